import Crypto

/// Builds the SigV4 canonical request with S3's rules and the string to sign that covers it.
///
/// ```
/// METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n payload hash
/// ```
public enum CanonicalRequest {
    /// The outcome of canonicalizing one request.
    public struct Built: Sendable {
        /// The canonical request bytes (UTF-8, LF separators, no final newline).
        public var bytes: [UInt8]
        /// Signed header names that the request does not carry (their canonical value is empty).
        public var missingHeaders: [String]

        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Builds the canonical request of a raw request.
    ///
    /// - Parameters:
    ///   - method: The HTTP method, as sent.
    ///   - rawPath: The path exactly as it arrived (see `URIEncoding.appendCanonicalPath`).
    ///   - rawQuery: The query exactly as it arrived, without the `?`.
    ///   - excludingQueryParameter: A parameter left out of the canonical query (`X-Amz-Signature` for
    ///     presigned requests).
    ///   - headers: Every header field of the request, in order.
    ///   - signedHeaders: Lower-cased names of the signed headers, in the signer's order.
    ///   - payloadHash: The last line: a hex SHA-256, `UNSIGNED-PAYLOAD` or a `STREAMING-*` value.
    /// - Throws: `S3Error` `InvalidURI` when the path or query holds a malformed percent-escape.
    public static func build(
        method: String,
        rawPath: Substring,
        rawQuery: Substring,
        excludingQueryParameter: String? = nil,
        headers: [(name: String, value: String)],
        signedHeaders: [String],
        payloadHash: String
    ) throws(S3Error) -> Built {
        guard let query = QueryParameters(rawQuery: rawQuery) else { throw invalidURI }
        return try build(
            method: method,
            rawPath: rawPath,
            query: query,
            excludingQueryParameter: excludingQueryParameter,
            headers: RequestHeaders(headers),
            signedHeaders: signedHeaders,
            payloadHash: payloadHash
        )
    }

    static func build(
        method: String,
        rawPath: Substring,
        query: QueryParameters,
        excludingQueryParameter: String?,
        headers: RequestHeaders,
        signedHeaders: [String],
        payloadHash: String
    ) throws(S3Error) -> Built {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        out.append(contentsOf: method.utf8)
        out.append(0x0A)
        guard URIEncoding.appendCanonicalPath(rawPath, to: &out) else { throw invalidURI }
        out.append(0x0A)
        query.appendCanonical(excluding: excludingQueryParameter, to: &out)
        out.append(0x0A)

        var missing: [String] = []
        for name in signedHeaders {
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: ":"))
            var found = false
            for i in headers.names.indices where headers.names[i] == name {
                if found { out.append(UInt8(ascii: ",")) }
                found = true
                appendFoldedValue(headers.values[i], to: &out)
            }
            if !found { missing.append(name) }
            out.append(0x0A)
        }
        out.append(0x0A)
        for (i, name) in signedHeaders.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ";")) }
            out.append(contentsOf: name.utf8)
        }
        out.append(0x0A)
        out.append(contentsOf: payloadHash.utf8)
        return Built(bytes: out, missingHeaders: missing)
    }

    /// The string to sign: algorithm, timestamp, scope and the hex SHA-256 of the canonical request.
    public static func stringToSign(canonicalRequest: [UInt8], timestamp: String, scope: CredentialScope) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out.append(contentsOf: SignedRequest.algorithm.utf8)
        out.append(0x0A)
        out.append(contentsOf: timestamp.utf8)
        out.append(0x0A)
        out.append(contentsOf: scope.date.utf8)
        out.append(UInt8(ascii: "/"))
        out.append(contentsOf: scope.region.utf8)
        out.append(UInt8(ascii: "/"))
        out.append(contentsOf: scope.service.utf8)
        out.append(UInt8(ascii: "/"))
        out.append(contentsOf: scope.terminator.utf8)
        out.append(0x0A)
        SHA256.hash(data: canonicalRequest).withUnsafeBytes { Hex.append($0, to: &out) }
        return out
    }

    /// Appends a header value trimmed, with every inner run of whitespace folded to one space. Line
    /// breaks count as whitespace, so an obsolete folded header reads as its lines joined by spaces (the
    /// behaviour of the current AWS test suite and of botocore).
    private static func appendFoldedValue(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            var pendingSpace = false
            var wroteAny = false
            for c in bytes {
                if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                    pendingSpace = wroteAny
                } else {
                    if pendingSpace { out.append(0x20) }
                    pendingSpace = false
                    wroteAny = true
                    out.append(c)
                }
            }
        }
    }

    static let invalidURI = S3Error(.invalidURI, "Couldn't parse the specified URI.")
}
