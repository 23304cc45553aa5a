import Metrics
import Synchronization

/// The state store's figures, through swift-metrics:
///
/// - `s3_sidecar_state_store_duration_seconds{operation}`: round trips to the shared store that were
///   answered (a timer: a histogram in Prometheus). Failed ones are counted, not timed: a timeout would
///   only record the timeout.
/// - `s3_sidecar_state_store_errors_total{operation, reason}`: operations the store could not decide, by
///   `StateStoreError.Code` (`unavailable`, `timeout`, `server_error`, `protocol_error`, `full`).
/// - `s3_sidecar_state_store_fallbacks_total`: rate-limit decisions taken by the local limiter because the
///   shared store could not decide (`--state-store-failure open`).
///
/// Made with a factory (by default the one `MetricsSystem.bootstrap` set, so a store must be made after
/// that, as `ProxyMetrics`' counters are first used after it), so a test can pass its own.
package final class StateStoreMetrics: Sendable {
    package static let durationLabel = "s3_sidecar_state_store_duration_seconds"
    package static let errorsLabel = "s3_sidecar_state_store_errors_total"
    package static let fallbacksLabel = "s3_sidecar_state_store_fallbacks_total"

    /// Histogram buckets for `durationLabel`: a Redis round trip on a LAN takes a fraction of a millisecond,
    /// below the first of Prometheus' default duration buckets (5 ms), so the exporter should use these.
    package static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
    ]

    /// What the store was asked: the `operation` label.
    enum Operation: String, CaseIterable, Sendable {
        case rateLimit = "rate_limit"
        case rememberUpload = "remember_upload"
        case lookupUpload = "lookup_upload"
        case singleUse = "single_use"
        case ping
        case scriptLoad = "script_load"
    }

    private let factory: any MetricsFactory
    /// Made on first use, so that `/metrics` lists only what happened.
    private let timers = Mutex<[Operation: Timer]>([:])
    private let errors = Mutex<[String: Counter]>([:])
    private let fallbacks = Mutex<Counter?>(nil)

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Records an answered round trip.
    func answered(_ operation: Operation, nanoseconds: Int64) {
        let timer = timers.withLock { timers in
            if let existing = timers[operation] { return existing }
            let made = Timer(
                label: Self.durationLabel,
                dimensions: [("operation", operation.rawValue)],
                factory: factory
            )
            timers[operation] = made
            return made
        }
        timer.recordNanoseconds(nanoseconds)
    }

    /// Counts an operation the store could not decide.
    func failed(_ operation: Operation, _ code: StateStoreError.Code) {
        let key = operation.rawValue + "\u{0}" + code.description
        let counter = errors.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Counter(
                label: Self.errorsLabel,
                dimensions: [("operation", operation.rawValue), ("reason", code.description)],
                factory: factory
            )
            cache[key] = made
            return made
        }
        counter.increment()
    }

    /// Counts a rate-limit decision taken locally because the shared store could not decide.
    func fellBack() {
        let counter = fallbacks.withLock { counter in
            if let counter { return counter }
            let made = Counter(label: Self.fallbacksLabel, factory: factory)
            counter = made
            return made
        }
        counter.increment()
    }
}
