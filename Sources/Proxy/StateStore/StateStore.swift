import NIOCore

/// The state that replicas of the sidecar must share to decide alike: the presign API's per-key token
/// buckets, the Content-Types of minted upload URLs, and which single-use links have been used.
///
/// Two implementations: `InMemoryStateStore` (one replica, the default) and `RedisStateStore` (any number
/// of replicas, one Redis). Every operation is one decision, made atomically by the store.
///
/// ## Why futures on the caller's event loop
/// The callers are channel handlers (the presign API, the proxy's admission of a single-use link) that run
/// on an event loop and must not block it. Each operation takes that loop and answers on it, so a handler
/// continues with `future.assumeIsolated().whenComplete { … }` and touches its own state without a hop:
/// the Redis client keeps one connection per event loop, so a round trip to Redis starts and ends on the
/// loop that asked, with no locks and no thread switch. The in-memory store answers with an already
/// completed future. (`async` functions would need a `Task` per request and two executor hops, and bring
/// the answer back to the handler off its loop.)
///
/// ## Failures
/// An answer of the store is a success: a refused rate limit (`allowed == false`) and an already used link
/// (`.alreadyUsed`) are decisions. A failed future (always a `StateStoreError`) means the store could not
/// decide: unreachable, too slow, or answering nonsense. What to do then is the caller's policy: the rate
/// limit fails open to a local limiter or closed (`FailoverRateLimiter`), a single-use link fails closed.
///
/// Times are the caller's clock (milliseconds since 1970), injected so tests are exact. The Redis store
/// decides token buckets by Redis's own clock instead (replicas' clocks differ; see `RedisStateStore`).
public protocol StateStore: Sendable {
    /// Takes one token from the bucket named `bucket` (an API key's fingerprint, never the key): a bucket
    /// of `capacity` tokens, refilled continuously at `refillPerMinute` tokens a minute, full when new.
    ///
    /// - Returns: The decision, with what the `X-RateLimit-*` headers report (`limit` is `capacity`).
    func takeToken(
        bucket: String,
        capacity: Int,
        refillPerMinute: Int,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RateLimitDecision>

    /// Remembers the Content-Type a minted upload URL was signed with, until the URL expires.
    ///
    /// - Parameter upload: The URL's identity (its signature).
    func rememberMintedUpload(
        _ upload: String,
        contentType: String,
        expiresAtMillis: Int64,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void>

    /// The Content-Type a minted, unexpired upload URL requires; `nil` when it is unknown or expired.
    func mintedUploadContentType(
        _ upload: String,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<String?>

    /// Uses up a single-use link, atomically: exactly one caller, on any replica, is told `.firstUse`.
    ///
    /// The record is kept until the link expires, plus a margin for replicas whose clocks run behind
    /// (`singleUseRetentionMarginMillis`): a replica that still deems the link valid must still find it used.
    ///
    /// - Parameters:
    ///   - nonce: The link's signed nonce.
    ///   - expiresAtMillis: When the link expires.
    func consumeSingleUse(
        nonce: String,
        expiresAtMillis: Int64,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<SingleUseOutcome>

    /// Asks the store whether it answers now (a `PING` for Redis), for the startup log and `/readyz`.
    /// Never fails: an unreachable store is a health value.
    func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<StateStoreHealth>

    /// What the store is, without secrets: `memory`, `redis://cache.internal:6379/0`.
    var backendDescription: String { get }

    /// Closes connections; operations afterwards fail with `StateStoreError.shutDown`.
    func shutdown() async
}

/// Whether a single-use link was used by this request or before.
public enum SingleUseOutcome: Sendable, Equatable {
    /// This request is the link's one use.
    case firstUse
    /// The link was used before (on this replica or another): refuse with `403 AccessDenied`.
    case alreadyUsed
}

/// How long a used single-use link is remembered after its expiry: 15 minutes, the clock skew the
/// verifier tolerates (`SigV4Verifier.Configuration.maxClockSkew`). A replica whose clock runs behind the
/// one that consumed the link still accepts the URL for that long, and must still find it used.
public let singleUseRetentionMarginMillis: Int64 = 900_000

/// The store's answer to `checkHealth`: what `/readyz` and the startup log say about it.
public struct StateStoreHealth: Sendable, Equatable, CustomStringConvertible {
    /// `memory`, or the Redis URL without its password.
    public var backend: String
    public var isReachable: Bool
    /// Why it is unreachable, or a note on a reachable one (`this replica only`).
    public var detail: String

    public init(backend: String, isReachable: Bool, detail: String) {
        self.backend = backend
        self.isReachable = isReachable
        self.detail = detail
    }

    /// One line for a log or `/readyz`: `state store redis://h:6379/0: reachable`.
    public var description: String {
        "state store \(backend): " + (isReachable ? "reachable" : "unreachable")
            + (detail.isEmpty ? "" : " (\(detail))")
    }
}
