/// Mints SigV4 presigned URLs (query form) with the same canonical request the verifier checks, so a URL
/// made here verifies here, and with every other SigV4 implementation (S3, botocore, MinIO).
///
/// Only `host` is signed, plus `content-type` when one is given: a browser can then PUT with nothing but
/// that header. No checksum and no payload hash are baked in (`UNSIGNED-PAYLOAD`): a checksum fixed at
/// presign time would refuse every real body.
public enum PresignedURL {
    /// What a presigned URL allows.
    public struct Request: Sendable {
        /// `GET`, `PUT`, …
        public var method: String
        /// `http` or `https`.
        public var scheme: String
        /// The `Host` the client will send: host name, and `:port` when not the scheme's default.
        public var host: String
        /// The path, already percent-encoded (see `encodePath(bucket:key:)`).
        public var rawPath: String
        /// A Content-Type the request must carry; signed when given.
        public var contentType: String?
        /// Seconds the URL stays valid (1…604800).
        public var expires: Int64
        public var region: String
        public var service: String

        public init(
            method: String,
            scheme: String,
            host: String,
            rawPath: String,
            contentType: String? = nil,
            expires: Int64,
            region: String,
            service: String = "s3"
        ) {
            self.method = method
            self.scheme = scheme
            self.host = host
            self.rawPath = rawPath
            self.contentType = contentType
            self.expires = expires
            self.region = region
            self.service = service
        }
    }

    /// A minted URL.
    public struct Minted: Sendable {
        public var url: String
        /// The hex signature (`X-Amz-Signature`): identifies the URL without keeping it.
        public var signature: String
        /// The signed header names, as in `X-Amz-SignedHeaders`.
        public var signedHeaders: [String]
    }

    /// Signs `request` with `credential` at `now` (seconds since 1970).
    ///
    /// - Throws: `InvalidURI` when `rawPath` holds a malformed escape.
    public static func make(
        _ request: Request,
        credential: Credential,
        now: Int64,
        signingKeys: SigningKeyCache
    ) throws(S3Error) -> Minted {
        let timestamp = AmzTime.formatBasic(now)
        let scope = CredentialScope(date: String(timestamp.prefix(8)), region: request.region, service: request.service)
        var headers: [(name: String, value: String)] = [("host", request.host)]
        var signedHeaders = ["host"]
        if let contentType = request.contentType {
            headers.append(("content-type", contentType))
            signedHeaders = ["content-type", "host"]
        }
        // Sorted by name, as every SigV4 signer writes them; the signature goes last.
        var query: [(String, String)] = [
            ("X-Amz-Algorithm", SignedRequest.algorithm),
            ("X-Amz-Credential", "\(credential.accessKeyId)/\(scope)"),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", String(request.expires)),
        ]
        if let token = credential.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        query.append(("X-Amz-SignedHeaders", signedHeaders.joined(separator: ";")))
        let rawQuery = query.map { "\($0.0)=\(encode($0.1))" }.joined(separator: "&")

        let canonical = try CanonicalRequest.build(
            method: request.method,
            rawPath: request.rawPath[...],
            rawQuery: rawQuery[...],
            headers: headers,
            signedHeaders: signedHeaders,
            payloadHash: "UNSIGNED-PAYLOAD"
        )
        let signature = signingKeys.signatureHex(
            canonicalRequest: canonical.bytes,
            timestamp: timestamp,
            scope: scope,
            secretAccessKey: credential.secretAccessKey
        )
        let url = "\(request.scheme)://\(request.host)\(request.rawPath)?\(rawQuery)&X-Amz-Signature=\(signature)"
        return Minted(url: url, signature: signature, signedHeaders: signedHeaders)
    }

    /// The path-style path of an object: `/bucket/key`, every byte of the key percent-encoded except
    /// `/` (kept as the separator S3 keys use) and the unreserved characters — botocore's encoding.
    public static func encodePath(bucket: String, key: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "/")]
        for byte in bucket.utf8 { URIEncoding.appendEncoded(byte, to: &out) }
        out.append(UInt8(ascii: "/"))
        for byte in key.utf8 {
            if byte == UInt8(ascii: "/") { out.append(byte) } else { URIEncoding.appendEncoded(byte, to: &out) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-encodes a query value the SigV4 way (`/` too).
    public static func encode(_ value: String) -> String {
        String(decoding: URIEncoding.encode(Array(value.utf8)), as: UTF8.self)
    }
}
