/// The embedded development object store (see DevStoreServer).
public enum DevStore {}
