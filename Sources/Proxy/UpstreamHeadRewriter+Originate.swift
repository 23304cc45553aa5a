import NIOHTTP1
import Verifier

extension UpstreamHeadRewriter {
    /// The head of a request the sidecar itself makes upstream on behalf of `credential` (the presign API's
    /// listings), authenticated as the mode wants: passthrough signs with that key's own secret (the backend
    /// shares the keys), resign with the backend's key, trusted names the key in `X-Sidecar-Access-Key`.
    ///
    /// - Parameters:
    ///   - uri: Path and query, already encoded.
    ///   - region: The region to sign for in passthrough mode.
    ///   - now: Seconds since 1970.
    func originate(
        method: HTTPMethod,
        uri: String,
        as credential: Credential,
        region: String,
        now: Int64
    ) throws(S3Error) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: upstream.hostHeader)
        let emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        switch mode {
        case .passthrough:
            if let token = credential.sessionToken { headers.add(name: "x-amz-security-token", value: token) }
            let signer = SigV4Signer(
                credentials: UpstreamCredentials(
                    accessKeyId: credential.accessKeyId,
                    secretAccessKey: credential.secretAccessKey,
                    region: region
                )
            )
            try signer.sign(method: method.rawValue, uri: uri, headers: &headers, payloadHash: emptyPayload, now: now)
        case .resign(let backend):
            try SigV4Signer(credentials: backend)
                .sign(method: method.rawValue, uri: uri, headers: &headers, payloadHash: emptyPayload, now: now)
        case .trusted:
            headers.add(name: Self.accessKeyHeader, value: credential.accessKeyId)
        }
        return HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
    }
}
