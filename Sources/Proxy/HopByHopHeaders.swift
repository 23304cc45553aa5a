import NIOHTTP1

/// Removal of the headers that describe one connection rather than the message (RFC 9110 §7.6.1), which
/// a proxy must not forward in either direction.
enum HopByHopHeaders {
    /// Always hop-by-hop, whatever `Connection` names.
    static let fixed: Set<String> = [
        "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "proxy-authorization",
        "proxy-authenticate",
    ]

    /// Names that `Connection` can never remove: the framing and the authentication of the message. A client
    /// sending `Connection: authorization` must not make the proxy forward something other than what it
    /// verified.
    static let protected: Set<String> = ["host", "content-length", "transfer-encoding", "authorization"]

    /// Removes the fixed hop-by-hop headers, every `Proxy-*` header, and every header that `Connection`
    /// names. `keep` lists lower-cased names to leave in place even so (signed headers in passthrough).
    static func remove(from headers: inout HTTPHeaders, keeping keep: Set<String> = []) {
        var named: Set<String> = []
        for value in headers[canonicalForm: "connection"] {
            let lower = value.lowercased()
            if !protected.contains(lower) { named.insert(lower) }
        }
        if named.isEmpty && !headers.contains(where: { isHopByHop($0.name.lowercased(), named: named) }) {
            return
        }
        var kept = HTTPHeaders()
        kept.reserveCapacity(headers.count)
        for (name, value) in headers {
            let lower = name.lowercased()
            if isHopByHop(lower, named: named) && !keep.contains(lower) { continue }
            kept.add(name: name, value: value)
        }
        headers = kept
    }

    private static func isHopByHop(_ lowerName: String, named: Set<String>) -> Bool {
        fixed.contains(lowerName) || lowerName.hasPrefix("proxy-") || named.contains(lowerName)
    }
}
