/// The backend's address, parsed once from a URL such as `http://127.0.0.1:9000` or `https://minio.internal`.
///
/// The URL must not carry a path: the upstream request line is the
/// verified one, byte for byte, so there is nowhere to put a prefix without changing what was signed.
public struct UpstreamEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Why a URL was refused.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, quoting the URL.
        public var description: String
    }

    /// How the upstream connection is carried.
    public enum Scheme: String, Sendable, Hashable {
        case http, https

        /// The port a URL without one means.
        public var defaultPort: Int { self == .https ? 443 : 80 }
    }

    public var scheme: Scheme
    /// A host name or IP literal (without brackets).
    public var host: String
    public var port: Int

    /// An endpoint from its parts, unchecked.
    public init(scheme: Scheme = .http, host: String, port: Int) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// Parses `http[s]://host[:port][/]`. IPv6 literals go in brackets: `http://[::1]:9000`.
    public init(url: String) throws(ParseError) {
        func fail(_ why: String) -> ParseError { ParseError(description: "invalid upstream URL \"\(url)\": \(why)") }
        let lowered = url.lowercased()
        let scheme: Scheme
        if lowered.hasPrefix("http://") {
            scheme = .http
        } else if lowered.hasPrefix("https://") {
            scheme = .https
        } else {
            throw fail("it must start with http:// or https://")
        }
        var rest = Substring(url.dropFirst(scheme.rawValue.count + 3))
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
        var port = scheme.defaultPort
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw fail("the port must be 1...65535") }
            port = p
        }
        self.scheme = scheme
        self.host = String(host)
        self.port = port
    }

    /// Whether `host` is an IP literal rather than a name (SNI carries names only).
    public var hostIsIPAddress: Bool {
        host.contains(":") || (!host.isEmpty && host.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// The value of a `Host` header addressed to this endpoint.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == scheme.defaultPort ? h : "\(h):\(port)"
    }

    public var description: String { "\(scheme.rawValue)://\(hostHeader)" }
}
