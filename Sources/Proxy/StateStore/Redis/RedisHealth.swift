import Logging
import NIOCore
import Synchronization

/// Whether a Redis server answers, as the client's connections (one per event loop) last found it. A change
/// is logged once for all of them: one warning when an outage starts, one notice when it ends.
final class RedisHealth: Sendable {
    enum State: Equatable, Sendable {
        /// No connection has been tried yet.
        case unknown
        case reachable
        /// Since when (monotonic), and the last failure.
        case unreachable(since: NIODeadline, error: RedisClientError)
    }

    private let state = Mutex(State.unknown)
    private let endpoint: String
    private let logger: Logger

    init(endpoint: String, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
    }

    var current: State { state.withLock { $0 } }

    /// A connection is ready.
    func connected() {
        let previous = state.withLock { state in
            defer { state = .reachable }
            return state
        }
        switch previous {
        case .reachable:
            break
        case .unknown:
            logger.info("connected to Redis", metadata: ["redis": "\(endpoint)"])
        case .unreachable(let since, _):
            let seconds = (NIODeadline.now() - since).nanoseconds / 1_000_000_000
            logger.notice(
                "Redis is reachable again",
                metadata: ["redis": "\(endpoint)", "outage.seconds": "\(seconds)"]
            )
        }
    }

    /// A connection attempt failed, or a connection stopped answering.
    func failed(_ error: RedisClientError) {
        let wasUnreachable = state.withLock { state in
            if case .unreachable(let since, _) = state {
                state = .unreachable(since: since, error: error)
                return true
            }
            state = .unreachable(since: .now(), error: error)
            return false
        }
        if !wasUnreachable {
            logger.warning(
                "Redis is unreachable; reconnecting with backoff",
                metadata: ["redis": "\(endpoint)", "error": "\(error)"]
            )
        } else {
            logger.debug("Redis still unreachable", metadata: ["redis": "\(endpoint)", "error": "\(error)"])
        }
    }
}
