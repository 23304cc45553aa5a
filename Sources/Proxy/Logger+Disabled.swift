import Logging

extension Logger {
    /// A logger that drops everything: for tests and embedders that do not want the proxy's logs.
    package static let disabled = Logger(label: "s3-sidecar.disabled", factory: { _ in SwiftLogNoOpLogHandler() })
}
