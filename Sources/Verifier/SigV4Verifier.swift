import Crypto

/// Decides, for one S3 request head, whether it is authentic, the way AWS S3 decides.
///
/// Pure: no I/O, no clock of its own. Give it the head as it arrived and the current time; it returns
/// who signed the request and what the body must still satisfy, or the `S3Error` S3 would answer.
///
/// ```swift
/// let verifier = SigV4Verifier(
///     configuration: .init(regions: ["us-east-1"]),
///     credentials: InMemoryCredentialStore([Credential(accessKeyId: "AK", secretAccessKey: "SECRET")])
/// )
/// let head = S3RequestHead(method: "GET", uri: "/bucket/key", headers: [("Host", "s3.local"), …])
/// let auth = try verifier.authenticate(head, now: .now)
/// ```
public struct SigV4Verifier: Sendable {
    /// What the verifier accepts. Defaults follow AWS S3.
    public struct Configuration: Sendable {
        /// The regions this endpoint serves; the first one is named in errors. A credential scope with any
        /// other region is refused.
        public var regions: [String]
        /// The service name the credential scope must carry.
        public var service: String
        /// How far a header-signed request's time may be from now, and a presigned URL's start in the
        /// future (seconds). S3: 15 minutes.
        public var maxClockSkew: Int64
        /// The largest `X-Amz-Expires` accepted (seconds), and how far ahead a V2 `Expires` may be. S3: 7 days.
        public var maxPresignedExpiry: Int64
        /// Whether legacy Signature Version 2 requests are accepted. When not, they get S3's
        /// `InvalidRequest` naming AWS4-HMAC-SHA256.
        public var acceptSignatureV2: Bool

        public init(
            regions: [String] = ["us-east-1"],
            service: String = "s3",
            maxClockSkew: Int64 = 900,
            maxPresignedExpiry: Int64 = 604_800,
            acceptSignatureV2: Bool = true
        ) {
            self.regions = regions
            self.service = service
            self.maxClockSkew = maxClockSkew
            self.maxPresignedExpiry = maxPresignedExpiry
            self.acceptSignatureV2 = acceptSignatureV2
        }
    }

    public let configuration: Configuration
    public let credentials: any CredentialStore
    public let signingKeys: SigningKeyCache

    public init(
        configuration: Configuration = .init(),
        credentials: any CredentialStore,
        signingKeys: SigningKeyCache = SigningKeyCache()
    ) {
        self.configuration = configuration
        self.credentials = credentials
        self.signingKeys = signingKeys
    }

    /// Authenticates a request head at time `now` (seconds since 1970).
    ///
    /// - Throws: the `S3Error` S3 answers: `AccessDenied` for an anonymous request.
    public func authenticate(_ head: S3RequestHead, now: Int64) throws(S3Error) -> AuthenticatedRequest {
        let (rawPath, rawQuery) = head.splitURI()
        guard let query = QueryParameters(rawQuery: rawQuery) else { throw CanonicalRequest.invalidURI }
        let headers = RequestHeaders(head.headers)

        let signed: SignedRequest
        switch try SignedRequest.mechanism(headers: headers, query: query) {
        case .anonymous:
            throw S3Error(.accessDenied, "Access Denied")
        case .unsupported:
            throw S3Error(
                .invalidRequest,
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
            )
        case .sigV2Header(let accessKeyId, let signature):
            return try authenticateV2(
                head: head,
                headers: headers,
                rawPath: rawPath,
                rawQuery: rawQuery,
                query: query,
                headerCredentials: (accessKeyId, signature),
                now: now
            )
        case .sigV2Query:
            return try authenticateV2(
                head: head,
                headers: headers,
                rawPath: rawPath,
                rawQuery: rawQuery,
                query: query,
                headerCredentials: nil,
                now: now
            )
        case .sigV4Header(let components):
            signed = try SignedRequest.parseHeader(components: components, headers: headers)
        case .sigV4Query:
            signed = try SignedRequest.parseQuery(query, maxExpires: configuration.maxPresignedExpiry)
        }

        try checkScope(signed)
        try checkTime(signed, now: now)

        guard let credential = credentials.credential(forAccessKeyId: signed.accessKeyId) else {
            throw S3Error(
                .invalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
                details: [S3Error.Detail("AWSAccessKeyId", signed.accessKeyId)]
            )
        }
        try checkSecurityToken(securityToken: signed.securityToken, form: signed.form, credential: credential)

        guard signed.signedHeaders.contains("host") else {
            throw signed.form == .header
                ? SignedRequest.malformedHeader("the SignedHeaders must include host.")
                : SignedRequest.queryError("X-Amz-SignedHeaders must include host.")
        }
        let (payloadHash, payload) = try payloadRule(signed, headers: headers, query: query)
        try checkUnsignedAmzHeaders(signed, headers: headers)

        let canonical = try CanonicalRequest.build(
            method: head.method,
            rawPath: rawPath,
            query: query,
            excludingQueryParameter: signed.form == .presigned ? "X-Amz-Signature" : nil,
            headers: headers,
            signedHeaders: signed.signedHeaders,
            payloadHash: payloadHash
        )
        let stringToSign = CanonicalRequest.stringToSign(
            canonicalRequest: canonical.bytes,
            timestamp: signed.timestamp,
            scope: signed.scope
        )
        // During a rotation either secret may have signed; the one that did also checks the chunk signatures.
        var matched: SigningKey?
        for secret in credential.acceptedSecrets {
            let candidate = signingKeys.key(
                secretAccessKey: secret,
                date: signed.scope.date,
                region: signed.scope.region,
                service: signed.scope.service
            )
            var expected: [UInt8] = []
            expected.reserveCapacity(64)
            candidate.appendSignatureHex(of: stringToSign, to: &expected)
            if constantTimeEquals(expected, signed.signature) {
                matched = candidate
                break
            }
        }
        // A signed header the request lacks would canonicalize as empty; S3 refuses it as a mismatch, and so
        // do we, even if the signer had signed an empty value.
        guard canonical.missingHeaders.isEmpty, let key = matched else {
            throw signatureMismatch(signed, canonical: canonical, stringToSign: stringToSign)
        }

        return AuthenticatedRequest(
            signatureVersion: .v4,
            form: signed.form,
            accessKeyId: signed.accessKeyId,
            scope: signed.scope,
            time: signed.time,
            timestamp: signed.timestamp,
            signedHeaders: signed.signedHeaders,
            contentTypeBound: signed.signedHeaders.contains("content-type"),
            signature: signed.signature,
            payload: payload,
            payloadHash: payloadHash,
            signingKey: key
        )
    }

    // MARK: - Rules

    private func checkScope(_ signed: SignedRequest) throws(S3Error) {
        let scope = signed.scope
        let header = signed.form == .header
        func fail(_ detail: String, details: [S3Error.Detail] = []) -> S3Error {
            header
                ? S3Error(.authorizationHeaderMalformed, "The authorization header is malformed; " + detail, details: details)
                : S3Error(.authorizationQueryParametersError, "Error parsing the X-Amz-Credential parameter; " + detail, details: details)
        }
        guard scope.terminator == "aws4_request" else {
            throw fail("incorrect terminal \"\(scope.terminator)\". This endpoint uses \"aws4_request\".")
        }
        guard scope.service == configuration.service else {
            throw fail("incorrect service \"\(scope.service)\". This endpoint belongs to \"\(configuration.service)\".")
        }
        guard configuration.regions.contains(scope.region) else {
            let expected = configuration.regions.first ?? ""
            throw fail(
                "the region '\(scope.region)' is wrong; expecting '\(expected)'",
                details: [S3Error.Detail("Region", expected)]
            )
        }
        guard signed.timestamp.utf8.prefix(8).elementsEqual(scope.date.utf8) else {
            throw header
                ? SignedRequest.malformedHeader("Invalid credential date. Date is not the same as X-Amz-Date.")
                : SignedRequest.queryError(
                    "Invalid credential date \"\(scope.date)\". This date is not the same as X-Amz-Date: "
                        + "\"\(signed.timestamp.prefix(8))\"."
                )
        }
    }

    private func checkTime(_ signed: SignedRequest, now: Int64) throws(S3Error) {
        let skew = configuration.maxClockSkew
        switch signed.form {
        case .header:
            if abs(signed.time - now) > skew {
                throw S3Error(
                    .requestTimeTooSkewed,
                    "The difference between the request time and the current time is too large.",
                    details: [
                        S3Error.Detail("RequestTime", signed.rawTime),
                        S3Error.Detail("ServerTime", AmzTime.formatExtended(now)),
                        S3Error.Detail("MaxAllowedSkewMilliseconds", String(skew * 1000)),
                    ]
                )
            }
        case .presigned:
            if signed.time - now > skew {
                throw S3Error(.accessDenied, "Request is not valid yet")
            }
            let expires = signed.expires ?? 0
            if now > signed.time + expires {
                throw S3Error(
                    .accessDenied,
                    "Request has expired",
                    details: [
                        S3Error.Detail("X-Amz-Expires", String(expires)),
                        S3Error.Detail("Expires", AmzTime.formatExtended(signed.time + expires)),
                        S3Error.Detail("ServerTime", AmzTime.formatExtended(now)),
                    ]
                )
            }
        }
    }

    func checkSecurityToken(
        securityToken: String?,
        form: SignedRequest.Form,
        credential: Credential
    ) throws(S3Error) {
        switch (credential.sessionToken, securityToken) {
        case (nil, nil):
            return
        case (.some, nil):
            throw S3Error(
                .missingSecurityHeader,
                "Your request was missing a required header",
                details: [
                    S3Error.Detail(
                        "MissingHeaderName",
                        form == .header ? "x-amz-security-token" : "X-Amz-Security-Token"
                    )
                ]
            )
        case (.some(let expected), .some(let provided)):
            if constantTimeEquals(expected.utf8, provided.utf8) { return }
            throw S3Error(.invalidToken, "The provided token is malformed or otherwise invalid.")
        case (nil, .some):
            throw S3Error(.invalidToken, "The provided token is malformed or otherwise invalid.")
        }
    }

    /// The payload line of the canonical request and the rule it sets for the body.
    private func payloadRule(
        _ signed: SignedRequest,
        headers: RequestHeaders,
        query: QueryParameters
    ) throws(S3Error) -> (String, PayloadRule) {
        let value: String
        switch signed.form {
        case .header:
            guard let first = headers.first("x-amz-content-sha256") else {
                throw S3Error(
                    .invalidRequest,
                    "Missing required header for this request: x-amz-content-sha256"
                )
            }
            guard headers.count("x-amz-content-sha256") == 1 else {
                throw S3Error(.invalidArgument, "x-amz-content-sha256 may be specified only once.")
            }
            value = String(Substring(first.utf8[...].trimmingSpaces))
        case .presigned:
            value = query.value("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD"
        }
        if value == "UNSIGNED-PAYLOAD" {
            return (value, .unsigned)
        }
        if let streaming = StreamingPayload(rawValue: value) {
            return (value, .streaming(streaming))
        }
        if value.utf8.count == 64, let digest = Hex.decode(value) {
            return (value, .sha256(digest))
        }
        throw S3Error(
            .invalidArgument,
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                + "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
            details: [S3Error.Detail("ArgumentName", "x-amz-content-sha256"), S3Error.Detail("ArgumentValue", value)]
        )
    }

    /// Every `x-amz-*` header present must be signed: otherwise whoever holds a presigned URL (or replays a
    /// signed request) could add tagging, ACLs, metadata or storage options the signer never granted.
    private func checkUnsignedAmzHeaders(_ signed: SignedRequest, headers: RequestHeaders) throws(S3Error) {
        var unsigned: [String] = []
        for name in headers.names {
            guard name.utf8.starts(with: "x-amz-".utf8) else { continue }
            if !signed.signedHeaders.contains(name) && !unsigned.contains(name) {
                unsigned.append(name)
            }
        }
        if !unsigned.isEmpty {
            throw S3Error(
                .accessDenied,
                "There were headers present in the request which were not signed",
                details: [S3Error.Detail("HeadersNotSigned", unsigned.joined(separator: ", "))]
            )
        }
    }

    private func signatureMismatch(
        _ signed: SignedRequest,
        canonical: CanonicalRequest.Built,
        stringToSign: [UInt8]
    ) -> S3Error {
        var details = [
            S3Error.Detail("AWSAccessKeyId", signed.accessKeyId),
            S3Error.Detail("StringToSign", String(decoding: stringToSign, as: UTF8.self)),
            S3Error.Detail("SignatureProvided", signed.signature),
            S3Error.Detail("StringToSignBytes", Hex.spaced(stringToSign)),
            S3Error.Detail("CanonicalRequest", canonical.text),
            S3Error.Detail("CanonicalRequestBytes", Hex.spaced(canonical.bytes)),
        ]
        if !canonical.missingHeaders.isEmpty {
            details.append(S3Error.Detail("SignedHeadersMissing", canonical.missingHeaders.joined(separator: ", ")))
        }
        return S3Error.signatureDoesNotMatch(details: details)
    }
}

extension SigV4Verifier {
    /// Whether a request carries no credentials at all (no `Authorization` header, no signature in the query):
    /// the one refusal an auth-only endpoint answers with 401 rather than 403.
    package static func isAnonymous(_ head: S3RequestHead) -> Bool {
        guard let query = QueryParameters(rawQuery: head.rawQuery) else { return false }
        guard let mechanism = try? SignedRequest.mechanism(headers: RequestHeaders(head.headers), query: query) else {
            return false
        }
        if case .anonymous = mechanism { return true }
        return false
    }
}
