public enum ProxyPlaceholder {}
