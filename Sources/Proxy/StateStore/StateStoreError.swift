/// Why a state store could not decide. Every case means "no decision": a refused rate limit or a used
/// link is an answer, never this error.
public struct StateStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unavailable, timeout
            case serverError = "server_error"
            case protocolError = "protocol_error"
            case full
            case shutDown = "shut_down"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The store cannot be reached: connecting failed, the connection was lost, or the client is
        /// waiting out its reconnect backoff.
        public static let unavailable = Code(.unavailable)
        /// The store took longer than the command timeout to answer.
        public static let timeout = Code(.timeout)
        /// The store answered with an error (`OOM`, `READONLY`, `NOAUTH`, …).
        public static let serverError = Code(.serverError)
        /// The store answered something the client refuses: oversized, malformed, or of an unexpected type.
        public static let protocolError = Code(.protocolError)
        /// The in-memory table of used single-use links is full of unexpired entries (failing closed).
        public static let full = Code(.full)
        /// The store was shut down.
        public static let shutDown = Code(.shutDown)

        /// A metric label: `unavailable`, `timeout`, `server_error`, …
        public var description: String { base.rawValue }
    }

    public var code: Code
    /// For logs and operators; never carries a secret.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
