/// The head of one HTTP request as it arrived: the verifier's only input besides the clock.
///
/// `uri` is the raw request target (`/bucket/key?query`), byte for byte as the client sent it: the
/// verifier canonicalizes it and never normalizes it, so that what is verified is what is forwarded.
public struct S3RequestHead: Sendable {
    /// The HTTP method, e.g. `GET`.
    public var method: String
    /// The raw request target: path and optional `?query`, exactly as received.
    public var uri: String
    /// The header fields in the order received; names in any case, repeated names allowed.
    public var headers: [(name: String, value: String)]

    public init(method: String, uri: String, headers: [(name: String, value: String)]) {
        self.method = method
        self.uri = uri
        self.headers = headers
    }

    /// The raw path: everything before the first `?`.
    public var rawPath: Substring {
        if let q = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return uri[..<q]
        }
        return uri[...]
    }

    /// The raw query: everything after the first `?`, or empty.
    public var rawQuery: Substring {
        if let q = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return uri[uri.utf8.index(after: q)...]
        }
        return ""
    }

    /// The raw path and raw query, split at the first `?` in one pass.
    package func splitURI() -> (path: Substring, query: Substring) {
        if let q = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return (uri[..<q], uri[uri.utf8.index(after: q)...])
        }
        return (uri[...], "")
    }

    /// The first value of the header with this name (compared case-insensitively).
    public func firstValue(of name: String) -> String? {
        headers.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }
}

/// Compares two header names ignoring ASCII case, without allocating.
package func asciiCaseInsensitiveEquals(_ a: String, _ b: String) -> Bool {
    let a = a.utf8
    let b = b.utf8
    guard a.count == b.count else { return false }
    return zip(a, b).allSatisfy { asciiLowercased($0) == asciiLowercased($1) }
}

@inline(__always)
package func asciiLowercased(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
}

/// Lower-cases the ASCII letters of a header name.
package func asciiLowercased(_ s: some StringProtocol) -> String {
    if !s.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
        return String(s)
    }
    return String(decoding: s.utf8.map { asciiLowercased($0) }, as: UTF8.self)
}
