import ArgumentParser

/// Parses `--listen`: `host:port`, `[v6]:port` or `:port` (all IPv4 interfaces).
enum ListenAddress {
    static func parse(_ text: String) throws -> (host: String, port: Int) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ValidationError("--listen \"\(text)\": expected [IPv6]:port")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ValidationError("--listen \"\(text)\": expected host:port")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ValidationError("--listen \"\(text)\": the port must be 0...65535")
        }
        return (host.isEmpty ? "0.0.0.0" : String(host), port)
    }
}
