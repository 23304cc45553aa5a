import Crypto
import Foundation

/// Legacy Signature Version 2 (`Authorization: AWS AKID:signature`, and the `AWSAccessKeyId` /
/// `Expires` / `Signature` query form), which real clients still produce: boto3's default presigner with
/// a custom endpoint, s3cmd with `signature_v2`, older backup tools.
///
/// The string to sign is HMAC-SHA1'd with the secret:
/// ```
/// METHOD \n Content-MD5 \n Content-Type \n Date-or-Expires \n canonical x-amz-* headers canonical resource
/// ```
/// The canonical resource is the path as sent (path-style addressing: it carries the bucket) plus the
/// sub-resources S3 lists, sorted, with decoded values. Time rules match Signature V4: the header form
/// within the clock skew, the query form not expired and at most `maxPresignedExpiry` ahead.
extension SigV4Verifier {
    /// The sub-resources that enter a V2 canonical resource (botocore's and S3's list).
    static let v2SubResources: Set<String> = [
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory", "legal-hold",
        "lifecycle", "location", "logging", "metrics", "notification", "object-lock", "partNumber", "policy",
        "replication", "requestPayment", "response-cache-control", "response-content-disposition",
        "response-content-encoding", "response-content-language", "response-content-type", "response-expires",
        "restore", "retention", "select", "select-type", "storageClass", "tagging", "torrent", "uploadId",
        "uploads", "versionId", "versioning", "versions", "website",
    ]

    func authenticateV2(
        head: S3RequestHead,
        headers: RequestHeaders,
        rawPath: Substring,
        rawQuery: Substring,
        query: QueryParameters,
        headerCredentials: (accessKeyId: String, signature: String)?,
        now: Int64
    ) throws(S3Error) -> AuthenticatedRequest {
        guard configuration.acceptSignatureV2 else {
            throw S3Error(
                .invalidRequest,
                "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
            )
        }
        let accessKeyId: String
        let providedSignature: String
        let dateLine: String
        let requestTime: Int64
        let form: SignedRequest.Form
        if let headerCredentials {
            form = .header
            (accessKeyId, providedSignature) = headerCredentials
            // x-amz-date, when present, stands in for Date, and the Date line of the string to sign is empty.
            let amzDate = headers.first("x-amz-date")
            let dateValue = amzDate ?? headers.first("date")
            guard let dateValue,
                let time = AmzTime.parseHTTPDate(dateValue.utf8[...].trimmingSpaces)
                    ?? AmzTime.parseBasic(dateValue.utf8[...].trimmingSpaces)
            else {
                throw S3Error(.accessDenied, "AWS authentication requires a valid Date or x-amz-date header")
            }
            dateLine = amzDate == nil ? String(Substring(dateValue.utf8[...].trimmingSpaces)) : ""
            requestTime = time
            if abs(time - now) > configuration.maxClockSkew {
                throw S3Error(
                    .requestTimeTooSkewed,
                    "The difference between the request time and the current time is too large.",
                    details: [
                        S3Error.Detail("RequestTime", dateValue),
                        S3Error.Detail("ServerTime", AmzTime.formatExtended(now)),
                        S3Error.Detail("MaxAllowedSkewMilliseconds", String(configuration.maxClockSkew * 1000)),
                    ]
                )
            }
        } else {
            form = .presigned
            for name in ["AWSAccessKeyId", "Expires", "Signature"] where query.count(of: name) != 1 {
                throw S3Error(
                    .accessDenied,
                    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
                )
            }
            accessKeyId = query.value("AWSAccessKeyId")!
            providedSignature = query.value("Signature")!
            let expiresText = query.value("Expires")!
            guard !expiresText.isEmpty, expiresText.utf8.count <= 12,
                expiresText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let expires = Int64(expiresText)
            else {
                throw S3Error(.accessDenied, "Invalid date (should be seconds since epoch): \(expiresText)")
            }
            if now > expires {
                throw S3Error(
                    .accessDenied,
                    "Request has expired",
                    details: [
                        S3Error.Detail("Expires", AmzTime.formatExtended(expires)),
                        S3Error.Detail("ServerTime", AmzTime.formatExtended(now)),
                    ]
                )
            }
            if expires - now > configuration.maxPresignedExpiry {
                throw S3Error(
                    .authorizationQueryParametersError,
                    "Expires must be at most \(configuration.maxPresignedExpiry) seconds (7 days) ahead of the "
                        + "current time"
                )
            }
            dateLine = expiresText
            requestTime = now
        }

        guard let credential = credentials.credential(forAccessKeyId: accessKeyId) else {
            throw S3Error(
                .invalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
                details: [S3Error.Detail("AWSAccessKeyId", accessKeyId)]
            )
        }
        let token = form == .header ? headers.first("x-amz-security-token") : query.value("x-amz-security-token")
        try checkSecurityToken(
            securityToken: token,
            form: form,
            credential: credential
        )

        let stringToSign = Self.v2StringToSign(
            method: head.method,
            headers: headers,
            dateLine: dateLine,
            rawPath: rawPath,
            rawQuery: rawQuery
        )
        let provided = Data(base64Encoded: providedSignature).map(Array.init) ?? []
        // During a rotation either secret may have signed.
        let secret = credential.acceptedSecrets.first { secret in
            let expected = HMAC<Insecure.SHA1>.authenticationCode(
                for: stringToSign,
                using: SymmetricKey(data: Array(secret.utf8))
            )
            return constantTimeEquals(Array(expected), provided)
        }
        guard let secret else {
            throw S3Error.signatureDoesNotMatch(details: [
                S3Error.Detail("AWSAccessKeyId", accessKeyId),
                S3Error.Detail("StringToSign", String(decoding: stringToSign, as: UTF8.self)),
                S3Error.Detail("SignatureProvided", providedSignature),
                S3Error.Detail("StringToSignBytes", Hex.spaced(stringToSign)),
            ])
        }

        // V2 has no credential scope; the request maps to the first served region on its own date, so that
        // logs, policies and the resign mode see the same shape as for V4.
        let date = String(AmzTime.formatBasic(requestTime).prefix(8))
        let scope = CredentialScope(date: date, region: configuration.regions.first ?? "us-east-1", service: "s3")
        var payload = PayloadRule.unsigned
        var payloadHash = "UNSIGNED-PAYLOAD"
        if let hash = headers.first("x-amz-content-sha256") {
            let value = String(Substring(hash.utf8[...].trimmingSpaces))
            if value.utf8.count == 64, let digest = Hex.decode(value) {
                payload = .sha256(digest)
                payloadHash = value
            } else if value != "UNSIGNED-PAYLOAD" {
                throw S3Error(
                    .invalidRequest,
                    "x-amz-content-sha256 \(value) cannot be used with Signature Version 2; use AWS4-HMAC-SHA256."
                )
            }
        }
        return AuthenticatedRequest(
            signatureVersion: .v2,
            form: form,
            accessKeyId: accessKeyId,
            scope: scope,
            time: requestTime,
            timestamp: AmzTime.formatBasic(requestTime),
            signedHeaders: [],
            contentTypeBound: true,
            signature: providedSignature,
            payload: payload,
            payloadHash: payloadHash,
            signingKey: signingKeys.key(
                secretAccessKey: secret,
                date: date,
                region: scope.region,
                service: "s3"
            )
        )
    }

    /// The V2 string to sign, as botocore's `HmacV1Auth` and S3 build it.
    static func v2StringToSign(
        method: String,
        headers: RequestHeaders,
        dateLine: String,
        rawPath: Substring,
        rawQuery: Substring
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: method.utf8)
        out.append(0x0A)
        for name in ["content-md5", "content-type"] {
            if let value = headers.first(name) { out.append(contentsOf: value.utf8[...].trimmingSpaces) }
            out.append(0x0A)
        }
        out.append(contentsOf: dateLine.utf8)
        out.append(0x0A)

        // x-amz-* headers: lower-cased, sorted, repeated values joined by commas, values trimmed.
        var amz: [String: [String]] = [:]
        for (i, name) in headers.names.enumerated() where name.utf8.starts(with: "x-amz-".utf8) {
            amz[name, default: []].append(String(Substring(headers.values[i].utf8[...].trimmingSpaces)))
        }
        for name in amz.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: amz[name]!.joined(separator: ",").utf8)
            out.append(0x0A)
        }

        out.append(contentsOf: rawPath.utf8)
        // A request addressed to a bucket (`/bucket`) names it as `/bucket/`, as S3 and botocore do.
        if rawPath.utf8.count > 1, !rawPath.utf8.dropFirst().contains(UInt8(ascii: "/")) {
            out.append(UInt8(ascii: "/"))
        }
        var subResources: [(name: String, value: String?)] = []
        for segment in rawQuery.utf8.split(separator: UInt8(ascii: "&")) {
            let text = Substring(segment)
            let name: Substring
            let value: Substring?
            if let eq = text.firstIndex(of: "=") {
                name = text[..<eq]
                value = text[text.index(after: eq)...]
            } else {
                name = text
                value = nil
            }
            guard v2SubResources.contains(String(name)) else { continue }
            // Values are percent-decoded (a `+` stays a `+`), as botocore signs them.
            subResources.append((String(name), value.map { $0.removingPercentEncoding ?? String($0) }))
        }
        if !subResources.isEmpty {
            // A stable sort by name, as botocore's `sort(key=itemgetter(0))`.
            let sorted = subResources.enumerated().sorted { a, b in
                a.element.name != b.element.name ? a.element.name < b.element.name : a.offset < b.offset
            }.map(\.element)
            out.append(UInt8(ascii: "?"))
            for (i, resource) in sorted.enumerated() {
                if i > 0 { out.append(UInt8(ascii: "&")) }
                out.append(contentsOf: resource.name.utf8)
                if let value = resource.value {
                    out.append(UInt8(ascii: "="))
                    out.append(contentsOf: value.utf8)
                }
            }
        }
        return out
    }
}
