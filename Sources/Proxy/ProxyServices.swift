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
    /// Uploads larger than this are refused with `EntityTooLarge`; `nil` for no limit.
    var objectSizeLimit: ObjectSizeLimit? = nil
}
