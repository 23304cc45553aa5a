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
        case sigV4Header(String)
        case sigV4Query
        case unsupportedHeader
    }

    static func mechanism(headers: [(name: String, value: String)], query: QueryParameters) throws(S3Error) -> Mechanism {
        var authorization: String?
        for header in headers where asciiCaseInsensitiveEquals(header.name, "authorization") {
            guard authorization == nil else {
                throw S3Error(.invalidArgument, "Only one Authorization header may be specified.")
            }
            authorization = header.value
        }
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
            let trimmed = trimmingSpaces(Substring(authorization))
            if trimmed.hasPrefix(algorithm + " ") || trimmed == algorithm {
                return .sigV4Header(String(trimmed))
            }
            return .unsupportedHeader
        }
        if hasQueryAuth { return .sigV4Query }
        if hasV2QueryAuth { return .unsupportedHeader }
        return .anonymous
    }

    /// Parses `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`.
    /// Components may be separated by `,` with or without spaces, in any order.
    static func parseHeader(
        authorization: String,
        headers: [(name: String, value: String)]
    ) throws(S3Error) -> SignedRequest {
        let rest = authorization.dropFirst(algorithm.count)
        var credential: Substring?
        var signedHeaders: Substring?
        var signature: Substring?
        for component in rest.split(separator: ",", omittingEmptySubsequences: true) {
            let part = trimmingSpaces(component)
            if part.isEmpty { continue }
            guard let eq = part.firstIndex(of: "=") else {
                throw malformedHeader("the authorization component \"\(part)\" is malformed.")
            }
            let key = part[..<eq]
            let value = part[part.index(after: eq)...]
            switch key {
            case "Credential" where credential == nil: credential = value
            case "SignedHeaders" where signedHeaders == nil: signedHeaders = value
            case "Signature" where signature == nil: signature = value
            default:
                throw malformedHeader("the authorization component \"\(part)\" is malformed.")
            }
        }
        guard let credential, let signedHeaders, let signature else {
            var missing: [String] = []
            if credential == nil { missing.append("Credential") }
            if signedHeaders == nil { missing.append("SignedHeaders") }
            if signature == nil { missing.append("Signature") }
            throw malformedHeader("missing " + missing.joined(separator: ", ") + ".")
        }
        guard let (accessKeyId, scope) = parseCredential(credential) else {
            throw malformedHeader(
                "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
            )
        }
        guard let names = parseSignedHeaders(signedHeaders) else {
            throw malformedHeader("the SignedHeaders value is mal-formed.")
        }

        // x-amz-date wins over Date, as in every SDK.
        let timestamp: String
        let time: Int64
        let rawTime: String
        if let amzDate = firstHeader("x-amz-date", in: headers) {
            rawTime = amzDate
            guard let t = AmzTime.parseBasic(trimmingSpaces(Substring(amzDate))) else {
                throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            timestamp = String(trimmingSpaces(Substring(amzDate)))
            time = t
        } else if let date = firstHeader("date", in: headers) {
            rawTime = date
            guard let t = AmzTime.parseHTTPDate(trimmingSpaces(Substring(date))) else {
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
            signature: String(signature),
            timestamp: timestamp,
            time: time,
            rawTime: rawTime,
            expires: nil,
            securityToken: firstHeader("x-amz-security-token", in: headers)
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
        guard let (accessKeyId, scope) = parseCredential(Substring(query.value("X-Amz-Credential")!)) else {
            throw queryError(
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "
                    + "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
            )
        }
        let rawDate = query.value("X-Amz-Date")!
        guard let time = AmzTime.parseBasic(rawDate) else {
            throw queryError(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        }
        let rawExpires = query.value("X-Amz-Expires")!
        guard let expires = parseDecimal(rawExpires) else {
            throw queryError(
                rawExpires.hasPrefix("-")
                    ? "X-Amz-Expires must be non-negative"
                    : "X-Amz-Expires should be a number"
            )
        }
        guard expires >= 1 else {
            throw queryError("X-Amz-Expires must be at least 1 second")
        }
        guard expires <= maxExpires else {
            throw queryError("X-Amz-Expires must be less than a week (in seconds) that is \(maxExpires)")
        }
        guard let names = parseSignedHeaders(Substring(query.value("X-Amz-SignedHeaders")!)) else {
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
    static func parseCredential(_ credential: Substring) -> (String, CredentialScope)? {
        let parts = credential.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 5 else { return nil }
        let scopeParts = parts.suffix(4)
        let accessKeyId = parts.dropLast(4).joined(separator: "/")
        guard !accessKeyId.isEmpty, scopeParts.allSatisfy({ !$0.isEmpty }) else { return nil }
        let s = Array(scopeParts)
        guard s[0].utf8.count == 8, s[0].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return (
            accessKeyId,
            CredentialScope(date: String(s[0]), region: String(s[1]), service: String(s[2]), terminator: String(s[3]))
        )
    }

    /// `host;range;x-amz-date`: non-empty names, lower-cased.
    static func parseSignedHeaders(_ value: Substring) -> [String]? {
        let names = value.split(separator: ";", omittingEmptySubsequences: false)
        guard !names.isEmpty else { return nil }
        var out: [String] = []
        out.reserveCapacity(names.count)
        for name in names {
            let trimmed = trimmingSpaces(name)
            guard !trimmed.isEmpty else { return nil }
            out.append(asciiLowercased(trimmed))
        }
        return out
    }

    private static func parseDecimal(_ text: String) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        return Int64(text)
    }

    private static func firstHeader(_ name: String, in headers: [(name: String, value: String)]) -> String? {
        headers.first { asciiCaseInsensitiveEquals($0.name, name) }?.value
    }

    static func malformedHeader(_ detail: String) -> S3Error {
        S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; " + detail)
    }

    static func queryError(_ message: String) -> S3Error {
        S3Error(.authorizationQueryParametersError, message)
    }
}

/// Trims spaces and horizontal tabs from both ends.
package func trimmingSpaces(_ s: Substring) -> Substring {
    var s = s
    while let f = s.utf8.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
    while let l = s.utf8.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
    return s
}
