import Metrics
import NIOCore
import Synchronization

/// The state of one replica, in its memory: the default, and right whenever a single sidecar serves. With
/// several replicas each keeps its own (a key gets N times its rate limit, and a single-use link is single
/// per replica); `RedisStateStore` shares it.
///
/// Everything is bounded:
/// - token buckets: a full bucket is the same as none, so beyond `maxBuckets` full ones are dropped (the
///   buckets are per API key, so their number is that of configured keys);
/// - minted uploads: expired entries go first, then the oldest (a forgotten entry only loses the friendlier
///   error message);
/// - used single-use links: expired entries go first; a table full of unexpired ones refuses the next
///   consumption with `StateStoreError.full` rather than forget one (which would let that link be used
///   again): failing closed.
///
/// The synchronous methods serve callers that are not on an event loop (and `FailoverRateLimiter`); the
/// `StateStore` methods answer with completed futures.
public final class InMemoryStateStore: StateStore {
    public struct Limits: Sendable {
        public var maxBuckets: Int
        public var maxMintedUploads: Int
        /// Used single-use links remembered at once (about 100 bytes each).
        public var maxUsedLinks: Int

        public init(maxBuckets: Int = 100_000, maxMintedUploads: Int = 100_000, maxUsedLinks: Int = 1_000_000) {
            self.maxBuckets = maxBuckets
            self.maxMintedUploads = maxMintedUploads
            self.maxUsedLinks = maxUsedLinks
        }
    }

    private struct Buckets {
        var byName: [String: (bucket: TokenBucket, fullAt: Int64)] = [:]
    }

    private let buckets = Mutex(Buckets())
    private let minted: Mutex<ExpiringTable<String>>
    private let usedLinks: Mutex<ExpiringTable<Bool>>
    private let maxBuckets: Int
    private let metrics: StateStoreMetrics

    /// - Parameter metricsFactory: Where `s3_sidecar_state_store_errors_total` counts a full table.
    public init(limits: Limits = Limits(), metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.maxBuckets = max(1, limits.maxBuckets)
        self.metrics = StateStoreMetrics(factory: metricsFactory)
        self.minted = Mutex(ExpiringTable(capacity: limits.maxMintedUploads, whenFull: .evictOldest))
        self.usedLinks = Mutex(ExpiringTable(capacity: limits.maxUsedLinks, whenFull: .refuse))
    }

    public var backendDescription: String { "memory" }

    // MARK: - Synchronous operations

    /// `StateStore.takeToken`, answered at once.
    public func takeToken(bucket: String, capacity: Int, refillPerMinute: Int, nowMillis: Int64) -> RateLimitDecision {
        buckets.withLock { state in
            let take = TokenBucket.take(
                state.byName[bucket]?.bucket,
                capacity: capacity,
                refillPerMinute: refillPerMinute,
                nowMillis: nowMillis
            )
            if state.byName[bucket] == nil, state.byName.count >= maxBuckets {
                state.byName = state.byName.filter { $0.value.fullAt > nowMillis }
            }
            state.byName[bucket] = (take.bucket, take.bucket.updatedMillis + take.millisUntilFull)
            return take.decision
        }
    }

    /// `StateStore.rememberMintedUpload`, at once.
    public func rememberMintedUpload(_ upload: String, contentType: String, expiresAtMillis: Int64, nowMillis: Int64) {
        guard expiresAtMillis >= nowMillis else { return }
        minted.withLock { _ = $0.set(upload, contentType, expiresAt: expiresAtMillis, now: nowMillis) }
    }

    /// `StateStore.mintedUploadContentType`, at once.
    public func mintedUploadContentType(_ upload: String, nowMillis: Int64) -> String? {
        minted.withLock { $0.value(forKey: upload, now: nowMillis) }
    }

    /// `StateStore.consumeSingleUse`, at once.
    ///
    /// - Throws: `StateStoreError.full` when the table of used links is full of unexpired ones.
    public func consumeSingleUse(
        nonce: String,
        expiresAtMillis: Int64,
        nowMillis: Int64
    ) throws(StateStoreError) -> SingleUseOutcome {
        let keepUntil = max(expiresAtMillis, nowMillis) + singleUseRetentionMarginMillis
        let outcome = usedLinks.withLock { $0.insertIfAbsent(nonce, true, expiresAt: keepUntil, now: nowMillis) }
        switch outcome {
        case .inserted: return .firstUse
        case .present: return .alreadyUsed
        case .full:
            metrics.failed(.singleUse, .full)
            throw StateStoreError(
                .full,
                "this replica remembers \(usedLinks.withLock { $0.capacity }) used single-use links, none expired yet"
            )
        }
    }

    /// Token buckets held (for tests).
    var bucketCount: Int { buckets.withLock { $0.byName.count } }
    /// Minted uploads held (for tests).
    var mintedUploadCount: Int { minted.withLock { $0.count } }
    /// Used links held (for tests).
    var usedLinkCount: Int { usedLinks.withLock { $0.count } }

    // MARK: - StateStore

    public func takeToken(
        bucket: String,
        capacity: Int,
        refillPerMinute: Int,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RateLimitDecision> {
        eventLoop.makeSucceededFuture(
            takeToken(bucket: bucket, capacity: capacity, refillPerMinute: refillPerMinute, nowMillis: nowMillis)
        )
    }

    public func rememberMintedUpload(
        _ upload: String,
        contentType: String,
        expiresAtMillis: Int64,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Void> {
        rememberMintedUpload(upload, contentType: contentType, expiresAtMillis: expiresAtMillis, nowMillis: nowMillis)
        return eventLoop.makeSucceededVoidFuture()
    }

    public func mintedUploadContentType(
        _ upload: String,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<String?> {
        eventLoop.makeSucceededFuture(mintedUploadContentType(upload, nowMillis: nowMillis))
    }

    public func consumeSingleUse(
        nonce: String,
        expiresAtMillis: Int64,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<SingleUseOutcome> {
        do throws(StateStoreError) {
            return eventLoop.makeSucceededFuture(
                try consumeSingleUse(nonce: nonce, expiresAtMillis: expiresAtMillis, nowMillis: nowMillis)
            )
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    public func checkHealth(on eventLoop: any EventLoop) -> EventLoopFuture<StateStoreHealth> {
        eventLoop.makeSucceededFuture(
            StateStoreHealth(backend: backendDescription, isReachable: true, detail: "this replica only")
        )
    }

    public func shutdown() async {}
}
