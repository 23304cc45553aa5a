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
    /// Which form carried the signature.
    public var form: SignedRequest.Form
    public var accessKeyId: String
    public var scope: CredentialScope
    /// The request time (seconds since 1970) and as it entered the string to sign.
    public var time: Int64
    public var timestamp: String
    /// Lower-cased signed header names.
    public var signedHeaders: [String]
    /// Whether `content-type` was signed, so the request's Content-Type is bound by the signature.
    public var contentTypeBound: Bool
    /// The verified request signature: the seed of an aws-chunked body's chunk signatures.
    public var signature: String
    /// What the body must satisfy.
    public var payload: PayloadRule
    /// The value of the payload line in the canonical request (`x-amz-content-sha256` or its default).
    public var payloadHash: String
    /// The signing key of this request's scope, for chunk and trailer signatures.
    public var signingKey: SigningKey
}
