/// The query string of a request, decoded once and kept in both forms: decoded (to read `X-Amz-*`
/// values) and encoded per SigV4 (to build the canonical query).
///
/// Names and values stay byte arrays: most are only compared or copied into the canonical query, so a
/// `String` is made only for the few values a caller reads.
package struct QueryParameters: Sendable {
    package struct Parameter: Sendable {
        /// Decoded name and value bytes.
        package var name: [UInt8]
        package var value: [UInt8]
        /// SigV4-encoded name and value, as they appear in the canonical query.
        package var encodedName: [UInt8]
        package var encodedValue: [UInt8]
    }

    package private(set) var parameters: [Parameter]

    /// Parses a raw query (`a=1&b&c=`). A name without `=` has an empty value, as S3 reads
    /// sub-resources such as `?lifecycle`. Empty segments (`a=1&&b=2`) carry nothing and are skipped.
    /// Returns `nil` when an escape is malformed.
    package init?(rawQuery: Substring) {
        parameters = []
        if rawQuery.isEmpty { return }
        var raw = rawQuery
        let parsed: [Parameter]? = raw.withUTF8 { bytes in
            var parameters: [Parameter] = []
            var start = 0
            while start <= bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "&") { end += 1 }
                if end > start {
                    var eq = start
                    while eq < end, bytes[eq] != UInt8(ascii: "=") { eq += 1 }
                    let valueStart = eq < end ? eq + 1 : end
                    guard let name = URIEncoding.decodeQueryComponent(UnsafeBufferPointer(rebasing: bytes[start..<eq])),
                        let value = URIEncoding.decodeQueryComponent(UnsafeBufferPointer(rebasing: bytes[valueStart..<end]))
                    else { return nil }
                    parameters.append(
                        Parameter(
                            name: name,
                            value: value,
                            encodedName: URIEncoding.encode(name),
                            encodedValue: URIEncoding.encode(value)
                        )
                    )
                }
                start = end + 1
            }
            return parameters
        }
        guard let parsed else { return nil }
        parameters = parsed
    }

    /// The first decoded value of the parameter with exactly this name (query names are case-sensitive).
    package func value(_ name: String) -> String? {
        parameters.first { $0.name.elementsEqual(name.utf8) }.map { String(decoding: $0.value, as: UTF8.self) }
    }

    package func contains(_ name: String) -> Bool {
        parameters.contains { $0.name.elementsEqual(name.utf8) }
    }

    /// How many parameters carry this exact name.
    package func count(of name: String) -> Int {
        parameters.reduce(0) { $0 + ($1.name.elementsEqual(name.utf8) ? 1 : 0) }
    }

    /// Appends the canonical query: pairs sorted by encoded name, then encoded value, joined by `&`,
    /// leaving out the parameter named `excluded` (the signature itself, in the presigned form).
    package func appendCanonical(excluding excluded: String?, to out: inout [UInt8]) {
        var included = parameters
        if let excluded {
            included.removeAll { $0.name.elementsEqual(excluded.utf8) }
        }
        included.sort { a, b in
            if a.encodedName != b.encodedName { return a.encodedName.lexicographicallyPrecedes(b.encodedName) }
            return a.encodedValue.lexicographicallyPrecedes(b.encodedValue)
        }
        for (i, p) in included.enumerated() {
            if i > 0 { out.append(UInt8(ascii: "&")) }
            out.append(contentsOf: p.encodedName)
            out.append(UInt8(ascii: "="))
            out.append(contentsOf: p.encodedValue)
        }
    }
}
