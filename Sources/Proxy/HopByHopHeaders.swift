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
        // Checked byte-wise, without lower-casing (and so allocating) every name: on every request and
        // response, and usually there is nothing to remove but a `Connection: keep-alive`.
        var doomed: [String] = []
        for (name, _) in headers where isFixedOrProxy(name[...]) { doomed.append(name) }
        guard !doomed.isEmpty else { return }
        for value in headers[canonicalForm: "connection"] where !isFixedOrProxy(value) {
            let lower = value.lowercased()
            if !protected.contains(lower) { doomed.append(lower) }
        }
        // `remove(name:)` compares case-insensitively and removes every field of that name.
        for name in doomed where keep.isEmpty || !keep.contains(name.lowercased()) {
            headers.remove(name: name)
        }
    }

    /// Whether `name` is one of `fixed` or starts with `proxy-`, compared ASCII case-insensitively. Every
    /// header that `Connection` could name is only hop-by-hop when a `Connection` header is present, and
    /// that is in `fixed`.
    static func isFixedOrProxy(_ name: Substring) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            switch bytes.count {
            case 2: return equalsLower(bytes, "te")
            case 7: return equalsLower(bytes, "trailer") || equalsLower(bytes, "upgrade")
            case 10: return equalsLower(bytes, "connection") || equalsLower(bytes, "keep-alive")
            default: return bytes.count >= 6 && equalsLower(UnsafeBufferPointer(rebasing: bytes[0..<6]), "proxy-")
            }
        }
    }

    /// ASCII case-insensitive equality of `bytes` with the lower-case ASCII literal `lower`.
    private static func equalsLower(_ bytes: UnsafeBufferPointer<UInt8>, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        for i in 0..<bytes.count {
            var b = bytes[i]
            if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") { b |= 0x20 }
            if b != l[i] { return false }
        }
        return true
    }
}
