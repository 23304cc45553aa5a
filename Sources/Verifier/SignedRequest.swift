/// The signature of a request, whichever form carried it: the `Authorization` header or the presigned
/// `X-Amz-*` query parameters. Both forms parse into this one model, so every later rule (scope, time
/// window, signature) is written once.
public struct SignedRequest: Sendable {
    public enum Form: String, Sendable, Hashable {
        /// `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
        case header
        /// `?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…&X-Amz-Signature=…`.
        case presigned
    }

    public var form: Form
    public var accessKeyId: String
    public var scope: CredentialScope
    /// Lower-cased, in the order the signer listed them.
    public var signedHeaders: [String]
    /// As provided: 64 lower-case hex digits when well formed.
    public var signature: String
    /// The request time as it enters the string to sign (`20130524T000000Z`).
    public var timestamp: String
    /// The request time in seconds since 1970.
    public var time: Int64
    /// The raw header value or query parameter the request time came from, for error bodies.
    public var rawTime: String
    /// `X-Amz-Expires`, presigned form only.
    public var expires: Int64?
    /// `X-Amz-Security-Token` (query) or `x-amz-security-token` (header), if present.
    public var securityToken: String?

    static let algorithm = "AWS4-HMAC-SHA256"
}

// MARK: - Parsing

extension SignedRequest {
    /// Which auth mechanism a request uses, before anything is parsed.
    enum Mechanism {
        case anonymous
        case sigV4Header(Substring)
        case sigV4Query
        case sigV2Header(accessKeyId: String, signature: String)
        case sigV2Query
        case unsupported
    }

    static func mechanism(headers: RequestHeaders, query: QueryParameters) throws(S3Error) -> Mechanism {
        let authorizationCount = headers.count("authorization")
        if authorizationCount > 1 {
            throw S3Error(.invalidArgument, "Only one Authorization header may be specified.")
        }
        let authorization = authorizationCount == 1 ? headers.first("authorization") : nil
        let hasQueryAuth = query.contains("X-Amz-Algorithm") || query.contains("X-Amz-Signature")
            || query.contains("X-Amz-Credential")
        let hasV2QueryAuth = query.contains("AWSAccessKeyId") || query.contains("Signature")
        if authorization != nil && (hasQueryAuth || hasV2QueryAuth) || hasQueryAuth && hasV2QueryAuth {
            throw S3Error(
                .invalidArgument,
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
                    + "parameter or the Authorization header should be specified",
                details: [S3Error.Detail("ArgumentName", "Authorization"), S3Error.Detail("ArgumentValue", "")]
            )
        }
        if let authorization {
            let trimmed = authorization.utf8[...].trimmingSpaces
            let algorithmLength = algorithm.utf8.count
            if trimmed.starts(with: algorithm.utf8),
                trimmed.count == algorithmLength
                    || trimmed[trimmed.index(trimmed.startIndex, offsetBy: algorithmLength)] == 0x20
            {
                return .sigV4Header(Substring(trimmed.dropFirst(algorithmLength)))
            }
            // Signature Version 2: `AWS AccessKeyId:Signature`.
            if trimmed.starts(with: "AWS ".utf8) {
                let credentials = Substring(trimmed.dropFirst(4)).utf8.trimmingSpaces
                guard let colon = credentials.lastIndex(of: UInt8(ascii: ":")),
                    colon > credentials.startIndex, credentials.index(after: colon) < credentials.endIndex
                else {
                    throw S3Error(
                        .invalidArgument,
                        "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                        details: [S3Error.Detail("ArgumentName", "Authorization")]
                    )
                }
                return .sigV2Header(
                    accessKeyId: String(Substring(credentials[..<colon])),
                    signature: String(Substring(credentials[credentials.index(after: colon)...]))
                )
            }
            return .unsupported
        }
        if hasQueryAuth { return .sigV4Query }
        if hasV2QueryAuth { return .sigV2Query }
        return .anonymous
    }

    /// Parses what follows `AWS4-HMAC-SHA256 `: `Credential=AK/date/region/service/aws4_request,
    /// SignedHeaders=a;b, Signature=hex`. Components may be separated by `,` with or without spaces, in
    /// any order; each must appear exactly once.
    static func parseHeader(components: Substring, headers: RequestHeaders) throws(S3Error) -> SignedRequest {
        var components = components
        let parsed = components.withUTF8 { bytes -> Result<(String, CredentialScope, [String], String), S3Error> in
            var credential: Range<Int>?
            var signedHeaders: Range<Int>?
            var signature: Range<Int>?
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: ",") { end += 1 }
                let part = trimmed(bytes, start..<end)
                start = end + 1
                if part.isEmpty { continue }
                guard let eq = part.first(where: { bytes[$0] == UInt8(ascii: "=") }) else {
                    return .failure(malformedComponent(bytes, part))
                }
                let key = UnsafeBufferPointer(rebasing: bytes[part.lowerBound..<eq])
                let value = (eq + 1)..<part.upperBound
                if key.elementsEqual("Credential".utf8), credential == nil {
                    credential = value
                } else if key.elementsEqual("SignedHeaders".utf8), signedHeaders == nil {
                    signedHeaders = value
                } else if key.elementsEqual("Signature".utf8), signature == nil {
                    signature = value
                } else {
                    return .failure(malformedComponent(bytes, part))
                }
            }
            guard let credential, let signedHeaders, let signature else {
                var missing: [String] = []
                if credential == nil { missing.append("Credential") }
                if signedHeaders == nil { missing.append("SignedHeaders") }
                if signature == nil { missing.append("Signature") }
                return .failure(malformedHeader("missing " + missing.joined(separator: ", ") + "."))
            }
            guard let (accessKeyId, scope) = parseCredential(UnsafeBufferPointer(rebasing: bytes[credential])) else {
                return .failure(
                    malformedHeader(
                        "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                    )
                )
            }
            guard let names = parseSignedHeaders(UnsafeBufferPointer(rebasing: bytes[signedHeaders])) else {
                return .failure(malformedHeader("the SignedHeaders value is mal-formed."))
            }
            return .success((accessKeyId, scope, names, String(decoding: bytes[signature], as: UTF8.self)))
        }
        let (accessKeyId, scope, names, signature) = try parsed.get()

        // x-amz-date wins over Date, as in every SDK.
        let timestamp: String
        let time: Int64
        let rawTime: String
        if let amzDate = headers.first("x-amz-date") {
            rawTime = amzDate
            let trimmed = amzDate.utf8[...].trimmingSpaces
            guard let t = AmzTime.parseBasic(trimmed) else {
                throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            timestamp = String(Substring(trimmed))
            time = t
        } else if let date = headers.first("date") {
            rawTime = date
            guard let t = AmzTime.parseHTTPDate(date.utf8[...].trimmingSpaces) else {
                throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            timestamp = AmzTime.formatBasic(t)
            time = t
        } else {
            throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
        }

        return SignedRequest(
            form: .header,
            accessKeyId: accessKeyId,
            scope: scope,
            signedHeaders: names,
            signature: signature,
            timestamp: timestamp,
            time: time,
            rawTime: rawTime,
            expires: nil,
            securityToken: headers.first("x-amz-security-token")
        )
    }

    /// Parses the presigned form from the decoded query parameters.
    static func parseQuery(_ query: QueryParameters, maxExpires: Int64) throws(S3Error) -> SignedRequest {
        let required = [
            "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders",
            "X-Amz-Expires",
        ]
        for name in required where query.count(of: name) != 1 {
            throw queryError(
                query.count(of: name) == 0
                    ? "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                        + "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
                    : "The \(name) parameter may appear only once."
            )
        }
        let algorithmValue = query.value("X-Amz-Algorithm")!
        guard algorithmValue == algorithm else {
            throw queryError("X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
        }
        var credentialValue = query.value("X-Amz-Credential")!
        guard let (accessKeyId, scope) = credentialValue.withUTF8({ parseCredential($0) }) else {
            throw queryError(
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "
                    + "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
            )
        }
        let rawDate = query.value("X-Amz-Date")!
        guard let time = AmzTime.parseBasic(rawDate.utf8[...]) else {
            throw queryError("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
        }
        let rawExpires = query.value("X-Amz-Expires")!
        guard let expires = parseDecimal(rawExpires) else {
            throw queryError(
                rawExpires.hasPrefix("-") ? "X-Amz-Expires must be non-negative" : "X-Amz-Expires should be a number"
            )
        }
        guard expires >= 1 else {
            throw queryError("X-Amz-Expires must be at least 1 second")
        }
        guard expires <= maxExpires else {
            throw queryError("X-Amz-Expires must be less than a week (in seconds) that is \(maxExpires)")
        }
        var signedHeadersValue = query.value("X-Amz-SignedHeaders")!
        guard let names = signedHeadersValue.withUTF8({ parseSignedHeaders($0) }) else {
            throw queryError("Error parsing the X-Amz-SignedHeaders parameter.")
        }
        if query.count(of: "X-Amz-Security-Token") > 1 {
            throw queryError("The X-Amz-Security-Token parameter may appear only once.")
        }
        return SignedRequest(
            form: .presigned,
            accessKeyId: accessKeyId,
            scope: scope,
            signedHeaders: names,
            signature: query.value("X-Amz-Signature")!,
            timestamp: rawDate,
            time: time,
            rawTime: rawDate,
            expires: expires,
            securityToken: query.value("X-Amz-Security-Token")
        )
    }

    /// `AKID/20130524/us-east-1/s3/aws4_request`. The scope is the last four parts; the access key id is
    /// everything before them and must not be empty.
    static func parseCredential(_ bytes: UnsafeBufferPointer<UInt8>) -> (String, CredentialScope)? {
        // The last four slashes, found from the end.
        var slashes = (0, 0, 0, 0)
        var found = 0
        var i = bytes.count
        while i > 0, found < 4 {
            i -= 1
            guard bytes[i] == UInt8(ascii: "/") else { continue }
            switch found {
            case 0: slashes.3 = i
            case 1: slashes.2 = i
            case 2: slashes.1 = i
            default: slashes.0 = i
            }
            found += 1
        }
        guard found == 4 else { return nil }
        let accessKeyId = 0..<slashes.0
        let date = (slashes.0 + 1)..<slashes.1
        let region = (slashes.1 + 1)..<slashes.2
        let service = (slashes.2 + 1)..<slashes.3
        let terminator = (slashes.3 + 1)..<bytes.count
        guard !accessKeyId.isEmpty, !region.isEmpty, !service.isEmpty, !terminator.isEmpty, date.count == 8,
            bytes[date].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else { return nil }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        return (
            text(accessKeyId),
            CredentialScope(date: text(date), region: text(region), service: text(service), terminator: text(terminator))
        )
    }

    /// `host;range;x-amz-date`: non-empty names, lower-cased.
    static func parseSignedHeaders(_ bytes: UnsafeBufferPointer<UInt8>) -> [String]? {
        var out: [String] = []
        out.reserveCapacity(8)
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ";") { end += 1 }
            let name = trimmed(bytes, start..<end)
            guard !name.isEmpty else { return nil }
            if bytes[name].contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
                out.append(String(decoding: bytes[name].map { asciiLowercased($0) }, as: UTF8.self))
            } else {
                out.append(String(decoding: bytes[name], as: UTF8.self))
            }
            start = end + 1
        }
        return out
    }

    private static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 { upper -= 1 }
        return lower..<upper
    }

    private static func malformedComponent(_ bytes: UnsafeBufferPointer<UInt8>, _ part: Range<Int>) -> S3Error {
        malformedHeader("the authorization component \"\(String(decoding: bytes[part], as: UTF8.self))\" is malformed.")
    }

    private static func parseDecimal(_ text: String) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        return Int64(text)
    }

    static func malformedHeader(_ detail: String) -> S3Error {
        S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; " + detail)
    }

    static func queryError(_ message: String) -> S3Error {
        S3Error(.authorizationQueryParametersError, message)
    }
}
