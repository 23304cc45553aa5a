/// What the request's signature promises about its body, and so what the proxy must check as the body
/// streams.
public enum PayloadRule: Sendable, Hashable {
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    case unsigned
    /// A hex `x-amz-content-sha256`: the body's SHA-256 must equal these 32 bytes.
    case sha256([UInt8])
    /// A `STREAMING-*` value: an aws-chunked body.
    case streaming(StreamingPayload)
}

/// The aws-chunked variants of `x-amz-content-sha256`.
public enum StreamingPayload: String, Sendable, Hashable, CaseIterable {
    /// Every chunk signed, chained from the request signature.
    case signed = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    /// Signed chunks, then trailing headers with their own signature.
    case signedWithTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    /// Unsigned chunks, then trailing headers (usually a checksum).
    case unsignedWithTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
}

/// The result of authenticating a request head: who signed it and what remains to check on the body.
public struct AuthenticatedRequest: Sendable {
    /// AWS Signature Version 4, or the legacy Version 2.
    public enum SignatureVersion: Int, Sendable, Hashable {
        case v2 = 2
        case v4 = 4
    }

    public var signatureVersion: SignatureVersion
    /// Which form carried the signature.
    public var form: SignedRequest.Form
    public var accessKeyId: String
    /// The credential scope. V2 has none: the request is mapped to the first served region on its date.
    public var scope: CredentialScope
    /// The request time (seconds since 1970) and in ISO 8601 basic form. For a V2 presigned URL, the time
    /// it was used.
    public var time: Int64
    public var timestamp: String
    /// Lower-cased signed header names (V4; empty for V2, which signs a fixed set).
    public var signedHeaders: [String]
    /// Whether `content-type` was signed, so the request's Content-Type is bound by the signature.
    public var contentTypeBound: Bool
    /// The verified request signature: the seed of an aws-chunked body's chunk signatures (V4).
    public var signature: String
    /// What the body must satisfy.
    public var payload: PayloadRule
    /// The value of the payload line in the canonical request (`x-amz-content-sha256` or its default).
    public var payloadHash: String
    /// The SigV4 signing key of this request's scope, for chunk and trailer signatures. For V2, the key of
    /// the scope the request is mapped to.
    public var signingKey: SigningKey
}
