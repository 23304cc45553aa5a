import Logging
import Metrics
import NIOCore
import Synchronization

/// What the presign API's rate limit does when the shared store cannot decide (`--state-store-failure`).
public enum StateStoreFailurePolicy: String, Sendable, CaseIterable {
    /// Decide with this replica's own limiter: requests go on, limits are per replica until the store
    /// answers again. The default.
    case open
    /// Refuse (the presign API answers `503 SERVICE_UNAVAILABLE`).
    case closed
}

/// The presign API's rate limit over a shared store, with the failure policy applied: the shared store's
/// decision while it answers; while it cannot (`StateStoreError`), `open` decides with a local
/// `InMemoryStateStore` and `closed` fails the future with the store's error.
///
/// A fallback is counted in `s3_sidecar_state_store_fallbacks_total` and logged once per outage: a warning
/// when the first decision falls back, a notice when the store decides again.
public final class FailoverRateLimiter: Sendable {
    public let store: any StateStore
    public let policy: StateStoreFailurePolicy
    private let local: InMemoryStateStore
    private let logger: Logger
    private let metrics: StateStoreMetrics
    /// Whether the last decision fell back (an outage is in progress).
    private let inOutage = Atomic<Bool>(false)

    /// - Parameters:
    ///   - store: The shared store.
    ///   - policy: What to do when it cannot decide.
    ///   - local: The replica's own limiter for `open`.
    ///   - metricsFactory: Where `s3_sidecar_state_store_fallbacks_total` is counted.
    public init(
        store: any StateStore,
        policy: StateStoreFailurePolicy,
        local: InMemoryStateStore = InMemoryStateStore(),
        logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.store = store
        self.policy = policy
        self.local = local
        self.logger = logger
        self.metrics = StateStoreMetrics(factory: metricsFactory)
    }

    /// Takes one token from `bucket` (see `StateStore.takeToken`).
    ///
    /// - Returns: The decision; a failed future (a `StateStoreError`) only with the `closed` policy.
    public func takeToken(
        bucket: String,
        capacity: Int,
        refillPerMinute: Int,
        nowMillis: Int64,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RateLimitDecision> {
        store.takeToken(
            bucket: bucket,
            capacity: capacity,
            refillPerMinute: refillPerMinute,
            nowMillis: nowMillis,
            on: eventLoop
        ).map { [self] decision in
            if inOutage.exchange(false, ordering: .relaxed) {
                logger.notice(
                    "the state store decides rate limits again",
                    metadata: ["state_store": "\(store.backendDescription)"]
                )
            }
            return decision
        }.flatMapErrorThrowing { [self] error in
            let storeError =
                error as? StateStoreError ?? StateStoreError(.unavailable, String(describing: error))
            if !inOutage.exchange(true, ordering: .relaxed) {
                logger.warning(
                    policy == .open
                        ? "the state store cannot decide rate limits: each replica limits on its own until it can"
                        : "the state store cannot decide rate limits: presign requests are refused until it can",
                    metadata: [
                        "state_store": "\(store.backendDescription)", "error": "\(storeError)",
                        "state_store.failure": "\(policy.rawValue)",
                    ]
                )
            }
            guard policy == .open else { throw storeError }
            metrics.fellBack()
            return local.takeToken(
                bucket: bucket,
                capacity: capacity,
                refillPerMinute: refillPerMinute,
                nowMillis: nowMillis
            )
        }
    }
}
