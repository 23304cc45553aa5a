import Verifier

/// How the sidecar authenticates the requests it forwards (see ARCHITECTURE.md, "Upstream modes").
public enum UpstreamMode: Sendable {
    /// Forward the verified request as it is, `Host` and `Authorization` included: the backend checks the
    /// signature again with the same keys.
    case passthrough
    /// Strip the client's authentication and sign the upstream request with the backend's own key.
    case resign(UpstreamCredentials)
    /// Strip the client's authentication and name the verified caller in `X-Sidecar-Access-Key`.
    case trusted

    /// The mode's name as the command line spells it.
    public var name: String {
        switch self {
        case .passthrough: "passthrough"
        case .resign: "resign"
        case .trusted: "trusted"
        }
    }
}

/// The backend's own key, used in `resign` mode. Never logged.
public struct UpstreamCredentials: Sendable {
    /// The backend's access key id, named in the upstream `Authorization` header.
    public var accessKeyId: String
    /// The backend's secret: signs upstream requests, never leaves the process.
    public var secretAccessKey: String
    /// The region to sign for.
    public var region: String
    /// The service to sign for.
    public var service: String

    public init(accessKeyId: String, secretAccessKey: String, region: String, service: String = "s3") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }
}

/// How a trailing checksum, verified by the sidecar, reaches the backend in the modes that decode an
/// aws-chunked body (`resign`, `trusted`). A checksum sent as an `x-amz-checksum-*` header is always kept.
public enum TrailingChecksumForwarding: String, Sendable, CaseIterable {
    /// The decoded bytes are framed again as `STREAMING-UNSIGNED-PAYLOAD-TRAILER` aws-chunked, ending with
    /// the verified `x-amz-checksum-*` trailer, so an S3-compatible backend stores (and checks) it too.
    case awsChunked = "aws-chunked"
    /// The decoded bytes go as a plain body of `x-amz-decoded-content-length` bytes; the checksum, verified
    /// here, is not passed on. For backends that do not speak aws-chunked.
    case drop

    /// The default per mode: an S3 backend behind `resign` understands aws-chunked; a `trusted` backend
    /// may be any blob server (the embedded store among them), so it gets plain bytes unless told otherwise.
    public static func `default`(for mode: UpstreamMode) -> TrailingChecksumForwarding {
        if case .resign = mode { return .awsChunked }
        return .drop
    }
}
