import Metrics
import Synchronization
import Verifier

/// The proxy's counters, through swift-metrics: the executable chooses the backend (Prometheus in
/// `s3-sidecar`), a library user may choose another or none.
///
/// Counters for the fixed label sets are created once, on first use, so counting costs an atomic add on
/// the request path. That first use must come after `MetricsSystem.bootstrap`, which the sidecar does
/// before it starts serving.
enum ProxyMetrics {
    static let requestsLabel = "s3_sidecar_requests_total"
    static let refusedLabel = "s3_sidecar_refused_requests_total"

    private static let v4Header = Counter(label: requestsLabel, dimensions: [("signature", "v4"), ("form", "header")])
    private static let v4Presigned = Counter(label: requestsLabel, dimensions: [("signature", "v4"), ("form", "presigned")])
    private static let v2Header = Counter(label: requestsLabel, dimensions: [("signature", "v2"), ("form", "header")])
    private static let v2Presigned = Counter(label: requestsLabel, dimensions: [("signature", "v2"), ("form", "presigned")])
    private static let contentTypeBound = Counter(label: "s3_sidecar_content_type_bound_requests_total")

    /// Counts an authenticated request by signature version and form: the V2 figures tell an operator
    /// when `--sigv2 refuse` can be turned on without breaking anyone.
    static func authenticated(_ auth: AuthenticatedRequest) {
        switch (auth.signatureVersion, auth.form) {
        case (.v4, .header): v4Header.increment()
        case (.v4, .presigned): v4Presigned.increment()
        case (.v2, .header): v2Header.increment()
        case (.v2, .presigned): v2Presigned.increment()
        }
        if auth.contentTypeBound { contentTypeBound.increment() }
    }

    /// Counts a request answered with an S3 error by the sidecar itself, by S3 code.
    static func refused(_ code: S3Error.Code) {
        counter(refusedLabel, [("code", code.s3Code)]).increment()
    }

    // MARK: - Outcomes, bytes, latency, connections

    static let outcomesLabel = "s3_sidecar_request_outcomes_total"
    static let authFailuresLabel = "s3_sidecar_auth_failures_total"
    static let durationLabel = "s3_sidecar_request_duration_seconds"
    static let upstreamErrorsLabel = "s3_sidecar_upstream_errors_total"
    static let authRequestsLabel = "s3_sidecar_auth_request_verdicts_total"

    private static let bytesIn = Counter(label: "s3_sidecar_request_body_bytes_total")
    private static let bytesOut = Counter(label: "s3_sidecar_response_body_bytes_total")
    private static let openConnections = Meter(label: "s3_sidecar_open_client_connections")

    /// Counts a finished exchange by outcome (`forwarded`, `refused`, `aborted`) and S3 code (`none` when the
    /// sidecar did not answer with an error), with its bytes and its duration.
    static func finished(_ record: AccessLog.Record) {
        if record.outcome == .forwarded && record.errorCode == nil {
            forwarded.increment()
            forwardedDuration.recordNanoseconds(record.durationNanoseconds)
        } else {
            let outcome = record.outcome.rawValue
            counter(outcomesLabel, [("outcome", outcome), ("code", record.errorCode ?? "none")]).increment()
            timer(durationLabel, [("outcome", outcome)]).recordNanoseconds(record.durationNanoseconds)
        }
        if record.bytesIn > 0 { bytesIn.increment(by: record.bytesIn) }
        if record.bytesOut > 0 { bytesOut.increment(by: record.bytesOut) }
    }

    // The common case, looked up once rather than per request.
    private static let forwarded = Counter(
        label: outcomesLabel,
        dimensions: [("outcome", "forwarded"), ("code", "none")]
    )
    private static let forwardedDuration = Timer(label: durationLabel, dimensions: [("outcome", "forwarded")])

    /// Counts a refused authentication or authorization (the verifier's or the policy's verdict), by S3 code.
    static func authFailed(_ code: S3Error.Code) {
        counter(authFailuresLabel, [("code", code.s3Code)]).increment()
    }

    /// Counts an upstream that could not be reached (`connect`) or failed mid-exchange (`exchange`).
    static func upstreamError(_ stage: String) {
        counter(upstreamErrorsLabel, [("stage", stage)]).increment()
    }

    /// Counts the answers of the nginx `auth_request` endpoint by HTTP status.
    static func authRequestVerdict(_ status: Int) {
        counter(authRequestsLabel, [("status", "\(status)")]).increment()
    }

    // MARK: - Label sets known only at run time

    /// Counters and timers whose labels vary (an S3 code, an outcome), made once per label set: the
    /// backend's own lookup costs a lock and string work on every call, which a flood of refused requests
    /// would otherwise pay per request. The sets are few (S3 codes × outcomes), so the cache stays small.
    private static let counters = Mutex<[String: Counter]>([:])
    private static let timers = Mutex<[String: Timer]>([:])

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.reduce(label) { $0 + "\u{0}" + $1.0 + "=" + $1.1 }
    }

    private static func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = key(label, dimensions)
        return counters.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Counter(label: label, dimensions: dimensions)
            cache[key] = made
            return made
        }
    }

    private static func timer(_ label: String, _ dimensions: [(String, String)]) -> Timer {
        let key = key(label, dimensions)
        return timers.withLock { cache in
            if let existing = cache[key] { return existing }
            let made = Timer(label: label, dimensions: dimensions)
            cache[key] = made
            return made
        }
    }

    static func connectionOpened() { openConnections.increment() }
    static func connectionClosed() { openConnections.decrement() }
}
