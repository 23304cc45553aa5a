import Metrics
import Synchronization

/// The state store's figures, through swift-metrics (as `ProxyMetrics`: made on first use, which comes after
/// `MetricsSystem.bootstrap`).
///
/// - `s3_sidecar_state_store_duration_seconds{operation}`: round trips to the shared store that were
///   answered (a timer: a histogram in Prometheus). Failed ones are counted, not timed: a timeout would
///   only record the timeout.
/// - `s3_sidecar_state_store_errors_total{operation, reason}`: operations the store could not decide, by
///   `StateStoreError.Code` (`unavailable`, `timeout`, `server_error`, `protocol_error`, `full`).
/// - `s3_sidecar_state_store_fallbacks_total`: rate-limit decisions taken by the local limiter because the
///   shared store could not decide (`--state-store-failure open`).
enum StateStoreMetrics {
    static let durationLabel = "s3_sidecar_state_store_duration_seconds"
    static let errorsLabel = "s3_sidecar_state_store_errors_total"
    static let fallbacksLabel = "s3_sidecar_state_store_fallbacks_total"

    /// What the store was asked: the `operation` label.
    enum Operation: String, CaseIterable, Sendable {
        case rateLimit = "rate_limit"
        case rememberUpload = "remember_upload"
        case lookupUpload = "lookup_upload"
        case singleUse = "single_use"
        case ping
        case scriptLoad = "script_load"
    }

    private static let timers: [Operation: Timer] = Dictionary(
        uniqueKeysWithValues: Operation.allCases.map { ($0, Timer(label: durationLabel, dimensions: [("operation", $0.rawValue)])) }
    )
    private static let fallbackCounter = Counter(label: fallbacksLabel)
    private static let errorCounters = Mutex<[String: Counter]>([:])

    /// Records an answered round trip.
    static func answered(_ operation: Operation, nanoseconds: Int64) {
        timers[operation]?.recordNanoseconds(nanoseconds)
    }

    /// Counts an operation the store could not decide.
    static func failed(_ operation: Operation, _ code: StateStoreError.Code) {
        let key = operation.rawValue + "\u{0}" + code.description
        let counter = errorCounters.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Counter(label: errorsLabel, dimensions: [("operation", operation.rawValue), ("reason", code.description)])
            cache[key] = made
            return made
        }
        counter.increment()
    }

    /// Counts a rate-limit decision taken locally because the shared store could not decide.
    static func fellBack() {
        fallbackCounter.increment()
    }
}
