import NIOHTTP1
import Verifier

/// Signs upstream requests in SigV4 header form with the backend's own key (`resign` mode).
///
/// Built on the Verifier's canonical request, so the signer and the verifier can never disagree on the
/// canonical form.
struct SigV4Signer: Sendable {
    let credentials: UpstreamCredentials
    let keys: SigningKeyCache

    init(credentials: UpstreamCredentials, keys: SigningKeyCache = SigningKeyCache(capacity: 16)) {
        self.credentials = credentials
        self.keys = keys
    }

    /// Adds `x-amz-date`, `x-amz-content-sha256` and `Authorization` to `headers`, signing `host`,
    /// `content-type`, `content-md5` and every `x-amz-*` header present.
    ///
    /// - Parameters:
    ///   - payloadHash: `UNSIGNED-PAYLOAD` or the hex SHA-256 of the body.
    ///   - now: Seconds since 1970.
    func sign(
        method: String,
        uri: String,
        headers: inout HTTPHeaders,
        payloadHash: String,
        now: Int64
    ) throws(S3Error) {
        let timestamp = AmzTime.formatBasic(now)
        headers.replaceOrAdd(name: "x-amz-date", value: timestamp)
        headers.replaceOrAdd(name: "x-amz-content-sha256", value: payloadHash)
        headers.remove(name: "authorization")

        var signed: Set<String> = ["host"]
        for (name, _) in headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-") || lower == "content-type" || lower == "content-md5" {
                signed.insert(lower)
            }
        }
        let signedHeaders = signed.sorted()
        let head = S3RequestHead(method: method, uri: uri, headers: headers.map { ($0.name, $0.value) })
        let scope = CredentialScope(
            date: String(timestamp.prefix(8)),
            region: credentials.region,
            service: credentials.service
        )
        let canonical = try CanonicalRequest.build(
            method: method,
            rawPath: head.rawPath,
            rawQuery: head.rawQuery,
            headers: head.headers,
            signedHeaders: signedHeaders,
            payloadHash: payloadHash
        )
        let signature = keys.signatureHex(
            canonicalRequest: canonical.bytes,
            timestamp: timestamp,
            scope: scope,
            secretAccessKey: credentials.secretAccessKey
        )
        headers.add(
            name: "Authorization",
            value: "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), "
                + "SignedHeaders=\(signedHeaders.joined(separator: ";")), Signature=\(signature)"
        )
    }
}
