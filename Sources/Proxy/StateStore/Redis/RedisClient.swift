import Crypto
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// What `RedisStateStore` needs of a Redis client: one command in, its reply out, on the caller's event
/// loop. `NIORedisClient` is ours; a maintained client (RediStack's `RedisClient.send(command:with:)`,
/// valkey-swift) can take its place behind an adapter that maps its reply type to `RESPValue` (error
/// replies as `.error`, not thrown) and its failures to `RedisClientError`.
public protocol RedisClient: Sendable {
    /// Sends `command` and answers with its reply on `eventLoop`. An error reply is a value
    /// (`RESPValue.error`); a failed future (a `RedisClientError`) means no reply came.
    func send(_ command: RESPCommand, on eventLoop: any EventLoop) -> EventLoopFuture<RESPValue>

    /// The server, without secrets: `redis://cache.internal:6379/0`.
    var endpointDescription: String { get }

    /// Closes every connection; later commands fail with `RedisClientError.shutDown`.
    func shutdown() async
}

/// A small Redis client on SwiftNIO: RESP2, one pipelined connection per event loop (made on the first
/// command from that loop), connect and command timeouts, reconnection with backoff, TLS for `rediss://`.
/// See `RedisLoopConnection` for the connection's life.
///
/// A command sent from its loop's own thread (a channel handler's) goes out and comes back on that loop
/// with no thread hop; one sent from elsewhere hops to the loop first.
public final class NIORedisClient: RedisClient {
    private struct LoopConnection: Sendable {
        let eventLoop: any EventLoop
        let connection: NIOLoopBound<RedisLoopConnection>
    }

    private let configuration: RedisConfiguration
    private let tlsContext: NIOSSLContext?
    private let health: RedisHealth
    private let connections = Mutex<[ObjectIdentifier: LoopConnection]>([:])
    private let isShutDown = Atomic<Bool>(false)

    /// - Throws: `RedisConfigurationError` for a configuration that cannot work (a user without a
    ///   password, a CA file that cannot be read).
    public init(configuration: RedisConfiguration, logger: Logger) throws(RedisConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        self.health = RedisHealth(endpoint: configuration.redactedURL, logger: logger)
        guard configuration.tls else {
            self.tlsContext = nil
            return
        }
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let caFile = configuration.tlsCAFile {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            self.tlsContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw RedisConfigurationError("the TLS settings for Redis cannot be used: \(error)")
        }
    }

    public var endpointDescription: String { configuration.redactedURL }

    /// How the connections last found the server (`unknown` before the first command).
    var healthState: RedisHealth.State { health.current }

    public func send(_ command: RESPCommand, on eventLoop: any EventLoop) -> EventLoopFuture<RESPValue> {
        if eventLoop.inEventLoop { return connection(for: eventLoop).send(command) }
        return eventLoop.flatSubmit { self.connection(for: eventLoop).send(command) }
    }

    public func shutdown() async {
        isShutDown.store(true, ordering: .sequentiallyConsistent)
        let all = connections.withLock { Array($0.values) }
        for entry in all {
            try? await entry.eventLoop.flatSubmit { entry.connection.value.shutdown() }.get()
        }
    }

    /// The connection of `eventLoop` (on it), made on first use.
    private func connection(for eventLoop: any EventLoop) -> RedisLoopConnection {
        let key = ObjectIdentifier(eventLoop)
        let entry = connections.withLock { connections in
            if let existing = connections[key] { return existing }
            let made = LoopConnection(
                eventLoop: eventLoop,
                connection: NIOLoopBound(
                    RedisLoopConnection(
                        eventLoop: eventLoop,
                        configuration: configuration,
                        tlsContext: tlsContext,
                        health: health
                    ),
                    eventLoop: eventLoop
                )
            )
            connections[key] = made
            return made
        }
        let connection = entry.connection.value
        // Made after shutdown() took its snapshot: shut down at once.
        if isShutDown.load(ordering: .sequentiallyConsistent) { _ = connection.shutdown() }
        return connection
    }
}

// MARK: - Commands

/// A Lua script, named by its SHA-1 as Redis names it (`EVALSHA`).
public struct RedisScript: Sendable, Equatable {
    public let source: String
    /// Lower-case hex, as `SCRIPT LOAD` answers.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}

extension RedisClient {
    /// Sends `command` and turns an error reply into a failed future (`serverError`).
    func run(_ command: RESPCommand, on eventLoop: any EventLoop) -> EventLoopFuture<RESPValue> {
        send(command, on: eventLoop).flatMapThrowing { reply in
            if case .error(let message) = reply {
                throw RedisClientError(.serverError, "\(command.name): \(message)")
            }
            return reply
        }
    }

    /// `PING`.
    public func ping(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        run(RESPCommand("PING"), on: eventLoop).flatMapThrowing { reply in
            guard reply.string == "PONG" else { throw RedisClientError(.protocolError, "PING was not answered PONG") }
        }
    }

    /// `SCRIPT LOAD`: puts `script` in the server's cache. Fails (`protocolError`) if the server names it
    /// by another SHA-1 than ours.
    public func loadScript(_ script: RedisScript, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        run(RESPCommand("SCRIPT", ["LOAD", script.source]), on: eventLoop).flatMapThrowing { reply in
            guard reply.string?.lowercased() == script.sha1 else {
                throw RedisClientError(.protocolError, "SCRIPT LOAD answered another SHA-1 than the script's")
            }
        }
    }

    /// Runs `script` by its SHA-1 (`EVALSHA`), and by its source (`EVAL`, which caches it again) when the
    /// server does not know it (`NOSCRIPT`: a restarted or flushed server).
    public func evaluate(
        _ script: RedisScript,
        keys: [String],
        arguments: [String],
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<RESPValue> {
        let parameters = [String(keys.count)] + keys + arguments
        return send(RESPCommand("EVALSHA", [script.sha1] + parameters), on: eventLoop).flatMap { reply in
            if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
                return self.run(RESPCommand("EVAL", [script.source] + parameters), on: eventLoop)
            }
            if case .error(let message) = reply {
                return eventLoop.makeFailedFuture(RedisClientError(.serverError, "EVALSHA: \(message)"))
            }
            return eventLoop.makeSucceededFuture(reply)
        }
    }

    /// `SET key value PX ttl`, or with `NX` (`onlyIfAbsent`): whether the key was set.
    public func set(
        _ key: String,
        _ value: String,
        expiresInMillis ttl: Int64,
        onlyIfAbsent: Bool = false,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<Bool> {
        let arguments = [key, value] + (onlyIfAbsent ? ["NX"] : []) + ["PX", String(max(1, ttl))]
        return run(RESPCommand("SET", arguments), on: eventLoop).flatMapThrowing { reply in
            switch reply {
            case .simpleString("OK"): return true
            case .bulkString(nil): return false  // NX and the key exists
            default: throw RedisClientError(.protocolError, "SET answered neither OK nor nil")
            }
        }
    }

    /// `GET key`: its value, `nil` when absent.
    public func get(_ key: String, on eventLoop: any EventLoop) -> EventLoopFuture<String?> {
        run(RESPCommand("GET", [key]), on: eventLoop).flatMapThrowing { reply in
            switch reply {
            case .bulkString(nil): return nil
            case .bulkString(let bytes?): return String(buffer: bytes)
            default: throw RedisClientError(.protocolError, "GET answered something other than a bulk string")
            }
        }
    }
}
