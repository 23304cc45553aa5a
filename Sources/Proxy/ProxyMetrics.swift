import Metrics
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
        Counter(label: refusedLabel, dimensions: [("code", code.s3Code)]).increment()
    }
}
