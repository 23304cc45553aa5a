/// Why a Redis command got no reply (an error reply is a reply: `RESPValue.error`).
public struct RedisClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case unavailable, timeout
            case protocolError = "protocol_error"
            case serverError = "server_error"
            case shutDown = "shut_down"
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No connection: connecting failed, the connection was lost before the reply, or the client is
        /// waiting out its reconnect backoff after a failure (commands fail at once then).
        public static let unavailable = Code(.unavailable)
        /// No reply within the command timeout (the connection is closed: its replies can no longer be
        /// matched to commands), or no connection within the connect timeout.
        public static let timeout = Code(.timeout)
        /// A reply the client refuses (malformed, oversized, unexpected).
        public static let protocolError = Code(.protocolError)
        /// The server answered with an error where the command needed a result (raised by the typed
        /// helpers of `RedisClient`, and by the connection setup: `AUTH`, `SELECT`).
        public static let serverError = Code(.serverError)
        /// The client was shut down.
        public static let shutDown = Code(.shutDown)

        public var description: String { base.rawValue }
    }

    public var code: Code
    /// For logs; names commands, never their arguments.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
