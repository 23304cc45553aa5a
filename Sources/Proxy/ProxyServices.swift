import Logging
import NIOCore
import Verifier

/// The shared, immutable collaborators of every proxy connection.
struct ProxyServices: Sendable {
    let verifier: SigV4Verifier
    let authorizer: any RequestAuthorizer
    let rewriter: UpstreamHeadRewriter
    /// Seconds since 1970: injected so tests can freeze time.
    let clock: @Sendable () -> Int64
    let logger: Logger
    /// How long a connection closed after an error keeps draining what the client still sends.
    var lingerTimeout: TimeAmount = .seconds(2)
    /// Peers whose `X-Forwarded-*` headers say what the client signed.
    var trustedProxies: TrustedProxies = .none
    /// Where each finished exchange is counted and logged.
    var accessLog = AccessLog(logger: nil)
    /// The presign API under `/api/object-storage/`, when enabled.
    var api: PresignAPI? = nil
    /// Cross-origin support, when configured.
    var cors: CORSConfiguration? = nil

    /// A refusal as the client should read it: a PUT to an upload URL the presign API minted, refused for
    /// its signature, is told which Content-Type the URL requires.
    func explain(_ error: S3Error, head: S3RequestHead) -> S3Error {
        guard let api, error.code == .signatureDoesNotMatch else { return error }
        return api.mintedUploads.explain(error, head: head, now: clock())
    }
    /// Hashing of large aws-chunked bodies off the event loop; `nil` keeps it inline.
    var digestOffload: DigestOffload? = DigestOffload()
    /// Uploads larger than this are refused with `EntityTooLarge`; `nil` for no limit.
    var objectSizeLimit: ObjectSizeLimit? = nil
}
