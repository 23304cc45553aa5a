import Logging
import Metrics
import NIOCore

/// The state of all replicas, in one Redis: every decision is one atomic round trip.
///
/// ```swift
/// var redis = try RedisConfiguration(url: "redis://sidecar@cache.internal:6379/0")
/// redis.password = passwordFromFile
/// let store = RedisStateStore(client: try NIORedisClient(configuration: redis, logger: logger), logger: logger)
/// // In a channel handler: the answer comes back on the handler's own loop.
/// store.takeToken(bucket: key.fingerprint, capacity: 60, refillPerMinute: 60, nowMillis: now, on: context.eventLoop)
///     .assumeIsolated().whenComplete { result in … }
/// ```
///
/// - Token buckets: a Lua script (`tokenBucketScript`), loaded once with `SCRIPT LOAD` (`loadScripts`)
///   and called by its SHA-1 (`EVALSHA`), or by its source (`EVAL`) when Redis has lost it (a restart, a
///   `SCRIPT FLUSH`). Redis runs a script alone, so concurrent replicas never both take the last token.
/// - Minted uploads: `SET <prefix>mu:<signature> <content-type> PX <ms until the URL expires>`, `GET`.
/// - Single-use links: `SET <prefix>su:<nonce> 1 NX PX <ms until expiry + margin>`: set means first use,
///   not set means used.
///
/// ## Whose clock
/// The bucket's clock is Redis's own (`TIME`, inside the script), not the caller's. Replicas' clocks
/// differ: with each replica's own, one running a second ahead would refill a second's worth of tokens
/// early, and one behind would see the bucket as updated in its future and refill nothing, so limits would
/// depend on which replica a request reaches. One clock makes the bucket exact whichever replica asks. (A
/// script that calls `TIME` and then writes needs effects replication: the default since Redis 5, the only
/// mode since 7; the script asks for it on older servers.) The expiries of minted uploads and used links
/// stay relative to the caller's clock: each replica judges a URL's expiry by its own clock, and the
/// single-use margin (`singleUseRetentionMarginMillis`) covers replicas that run behind.
///
/// Keys expire on their own (buckets when full again, which is the same as absent), so Redis holds no more
/// than live state. An operator must not let Redis evict keys that have a TTL under memory pressure
/// (`maxmemory-policy` `noeviction`, or a Redis of its own): an evicted used-link record is a link usable
/// again.
public final class RedisStateStore: StateStore {
    public struct Configuration: Sendable {
        /// Put before every key, so one Redis can serve several sidecar deployments (or other programs).
        public var keyPrefix: String

        public init(keyPrefix: String = "s3-sidecar:") {
            self.keyPrefix = keyPrefix
        }
    }

    public let client: any RedisClient
    public let configuration: Configuration
    private let logger: Logger
    private let metrics: StateStoreMetrics

    /// - Parameter metricsFactory: Where round trips are timed and failures counted (`StateStoreMetrics`).
    public init(
        client: any RedisClient,
        configuration: Configuration = Configuration(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
        self.metrics = StateStoreMetrics(factory: metricsFactory)
    }

    public var backendDescription: String { client.endpointDescription }

    /// Loads the scripts into Redis (`SCRIPT LOAD`), so the first requests need no `EVAL`. Not required
    /// (a script Redis lacks is sent again on use), but it tells at startup that Redis answers and runs Lua.
    public func loadScripts(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        measured(.scriptLoad, on: eventLoop) { client.loadScript(Self.tokenBucketScript, on: eventLoop) }
    }

    // MARK: - StateStore

    public func takeToken(
        bucket: String,
        capacity: Int,
        refillPerMinute: Int,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RateLimitDecision> {
        takeToken(bucket: bucket, capacity: capacity, refillPerMinute: refillPerMinute, clockMillis: nil, on: eventLoop)
    }

    /// `takeToken` with the script's clock set by the caller (`nil`: Redis's `TIME`), so a test can run the
    /// script and `TokenBucket` on one sequence of times.
    func takeToken(
        bucket: String,
        capacity: Int,
        refillPerMinute: Int,
        clockMillis: Int64?,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RateLimitDecision> {
        let capacity = min(max(1, capacity), TokenBucket.maxTokens)
        let refill = min(max(1, refillPerMinute), TokenBucket.maxTokens)
        return measured(.rateLimit, on: eventLoop) {
            client.evaluate(
                Self.tokenBucketScript,
                keys: [configuration.keyPrefix + "rl:" + bucket],
                arguments: [String(capacity), String(refill), clockMillis.map { String($0) } ?? ""],
                on: eventLoop
            ).flatMapThrowing { reply in
                guard case .array(let values?) = reply, values.count == 4,
                    case .integer(let allowed) = values[0], case .integer(let remaining) = values[1],
                    case .integer(let reset) = values[2], case .integer(let retry) = values[3]
                else {
                    throw RedisClientError(.protocolError, "the token bucket script answered an unexpected reply")
                }
                return RateLimitDecision(
                    allowed: allowed == 1,
                    limit: capacity,
                    remaining: Int(remaining),
                    resetSeconds: Int(reset),
                    retryAfterSeconds: retry < 0 ? nil : Int(retry)
                )
            }
        }
    }

    public func rememberMintedUpload(
        _ upload: String,
        contentType: String,
        expiresAtMillis: Int64,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        // Kept up to and including its last valid millisecond, as the in-memory table does.
        let ttl = expiresAtMillis - nowMillis + 1
        guard ttl > 0 else { return eventLoop.makeSucceededVoidFuture() }
        return measured(.rememberUpload, on: eventLoop) {
            client.set(configuration.keyPrefix + "mu:" + upload, contentType, expiresInMillis: ttl, on: eventLoop)
                .map { _ in }
        }
    }

    public func mintedUploadContentType(
        _ upload: String,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<String?> {
        measured(.lookupUpload, on: eventLoop) {
            client.get(configuration.keyPrefix + "mu:" + upload, on: eventLoop)
        }
    }

    public func consumeSingleUse(
        nonce: String,
        expiresAtMillis: Int64,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<SingleUseOutcome> {
        let ttl = max(0, expiresAtMillis - nowMillis) + singleUseRetentionMarginMillis
        return measured(.singleUse, on: eventLoop) {
            client.set(
                configuration.keyPrefix + "su:" + nonce,
                "1",
                expiresInMillis: ttl,
                onlyIfAbsent: true,
                on: eventLoop
            )
            .map { set in set ? .firstUse : .alreadyUsed }
        }
    }

    public func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<StateStoreHealth> {
        let backend = backendDescription
        let started = NIODeadline.now()
        return measured(.ping, on: eventLoop) { client.ping(on: eventLoop) }
            .map {
                let micros = (NIODeadline.now() - started).nanoseconds / 1000
                return StateStoreHealth(
                    backend: backend,
                    isReachable: true,
                    detail: "PING answered in \(millisecondsText(micros: micros)) ms"
                )
            }
            .recover { error in
                StateStoreHealth(backend: backend, isReachable: false, detail: "\(error)")
            }
    }

    public func shutdown() async {
        await client.shutdown()
    }

    // MARK: - Errors and metrics

    /// Runs one round trip: times it when answered, counts it when not, and makes every failure a
    /// `StateStoreError`.
    private func measured<T>(
        _ operation: StateStoreMetrics.Operation,
        on eventLoop: any EventLoop,
        _ body: () -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        let started = NIODeadline.now()
        let metrics = metrics
        return body().map { value in
            metrics.answered(operation, nanoseconds: (NIODeadline.now() - started).nanoseconds)
            return value
        }.flatMapErrorThrowing { error in
            let storeError = Self.storeError(error)
            metrics.failed(operation, storeError.code)
            throw storeError
        }
    }

    static func storeError(_ error: any Error) -> StateStoreError {
        guard let error = error as? RedisClientError else {
            return error as? StateStoreError ?? StateStoreError(.unavailable, "\(error)")
        }
        let code: StateStoreError.Code =
            switch error.code {
            case .timeout: .timeout
            case .protocolError: .protocolError
            case .serverError: .serverError
            case .shutDown: .shutDown
            default: .unavailable
            }
        return StateStoreError(code, error.message)
    }
}

/// Microseconds as milliseconds with three decimals: `1234` is `1.234`.
private func millisecondsText(micros: Int64) -> String {
    let fraction = String(micros % 1000)
    return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
}
