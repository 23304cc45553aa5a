/// The backend's address, parsed once from a URL such as `http://127.0.0.1:9000`.
///
/// Only `http` is supported for now, and the URL must not carry a path: the upstream request line is the
/// verified one, byte for byte, so there is nowhere to put a prefix without changing what was signed.
public struct UpstreamEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Why a URL was refused.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, quoting the URL.
        public var description: String
    }

    /// A host name or IP literal (without brackets).
    public var host: String
    public var port: Int

    /// An endpoint from its parts, unchecked.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `http://host[:port][/]`. IPv6 literals go in brackets: `http://[::1]:9000`.
    public init(url: String) throws(ParseError) {
        func fail(_ why: String) -> ParseError { ParseError(description: "invalid upstream URL \"\(url)\": \(why)") }
        let scheme = "http://"
        guard url.lowercased().hasPrefix(scheme) else {
            throw fail(
                url.lowercased().hasPrefix("https://") ? "https is not supported yet" : "it must start with http://"
            )
        }
        var rest = Substring(url.dropFirst(scheme.count))
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/"), !rest.contains("?"), !rest.contains("#") else {
            throw fail("a path, query or fragment is not supported; give only scheme, host and port")
        }
        guard !rest.contains("@") else { throw fail("user information is not supported") }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 literal") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected text after the IPv6 literal") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw fail("the host is empty") }
        var port = 80
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw fail("the port must be 1...65535") }
            port = p
        }
        self.host = String(host)
        self.port = port
    }

    /// The value of a `Host` header addressed to this endpoint.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == 80 ? h : "\(h):\(port)"
    }

    public var description: String { "http://\(hostHeader)" }
}
