import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// The one Redis connection of one event loop: every command from that loop goes through it, pipelined.
/// Only touched on its loop, so it needs no locks (as `UpstreamConnectionPool`).
///
/// ```
///   idle ──send──▶ connecting ──TCP, TLS, AUTH, SELECT, PING──▶ ready
///                    │  ▲   (connectTimeout for all of it)        │ closed, timed out
///                    ▼  │ backoff elapsed                          ▼
///                 backingOff ◀──────────── failed ────────── connecting (again, at once)
/// ```
/// - While connecting for the first time, or again right after a connection that worked was closed (a
///   restart, an idle timeout), commands wait for it (at most `maxWaitingCommands`).
/// - While backing off after a failure, commands fail at once (`unavailable`): during an outage a caller
///   learns it in microseconds, not after a connect timeout per request. The reconnect attempts that end
///   a backoff also fail waiting commands at once: they try the server, not the callers' patience. The
///   same holds right after a connection timed out or answered nonsense: the server is known to be sick.
/// - Reconnecting happens on a timer, not on demand, so the store recovers (and `/readyz` says so) without
///   traffic, within `maxReconnectBackoff` of the server's return.
final class RedisLoopConnection {
    private struct Waiter {
        var command: RESPCommand
        var promise: EventLoopPromise<RESPValue>
    }

    private enum State {
        case idle
        case connecting(waiters: CircularBuffer<Waiter>, failFast: Bool)
        case ready(Channel, RedisChannelHandler)
        case backingOff(RedisClientError)
        case shutDown
    }

    private let eventLoop: any EventLoop
    private let configuration: RedisConfiguration
    private let tlsContext: NIOSSLContext?
    private let health: RedisHealth
    private var state = State.idle
    /// Numbers connection attempts, so that the callbacks of an abandoned one do nothing.
    private var attempt = 0
    private var backoff: TimeAmount
    private var setupTimeout: Scheduled<Void>?
    private var reconnect: Scheduled<Void>?
    /// The channel of the attempt in progress, to close it when the attempt is abandoned.
    private var connectingChannel: Channel?

    init(eventLoop: any EventLoop, configuration: RedisConfiguration, tlsContext: NIOSSLContext?, health: RedisHealth) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.health = health
        self.backoff = configuration.reconnectBackoff
    }

    private var endpoint: String { "\(configuration.host):\(configuration.port)" }

    /// Sends `command` and answers with its reply, on this connection's loop.
    func send(_ command: RESPCommand) -> EventLoopFuture<RESPValue> {
        eventLoop.assertInEventLoop()
        let promise = eventLoop.makePromise(of: RESPValue.self)
        send(command, promise: promise)
        return promise.futureResult
    }

    private func send(_ command: RESPCommand, promise: EventLoopPromise<RESPValue>) {
        switch state {
        case .ready(let channel, let handler):
            guard handler.finishedWith == nil else {
                // Finished (timed out, refused a reply) and closing: its close completes a tick later, and
                // this command must not meet the old connection's failure. Move on now.
                connectionClosed(channel, handler: handler)
                return send(command, promise: promise)
            }
            handler.send(command, promise: promise)
        case .idle:
            var waiters = CircularBuffer<Waiter>()
            waiters.append(Waiter(command: command, promise: promise))
            connect(failFast: false, waiters: waiters)
        case .connecting(var waiters, let failFast):
            if failFast {
                promise.fail(
                    RedisClientError(.unavailable, "Redis at \(endpoint) is being reconnected after a failure")
                )
            } else if waiters.count >= configuration.maxWaitingCommands {
                promise.fail(
                    RedisClientError(
                        .unavailable,
                        "\(waiters.count) commands already wait for the connection to \(endpoint)"
                    )
                )
            } else {
                waiters.append(Waiter(command: command, promise: promise))
                state = .connecting(waiters: waiters, failFast: false)
            }
        case .backingOff(let error):
            promise.fail(RedisClientError(.unavailable, "Redis at \(endpoint) is unreachable (\(error.message))"))
        case .shutDown:
            promise.fail(RedisClientError(.shutDown, "the Redis client was shut down"))
        }
    }

    /// Closes the connection and fails what waits; later commands fail with `shutDown`.
    func shutdown() -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        let previous = state
        state = .shutDown
        setupTimeout?.cancel()
        reconnect?.cancel()
        let error = RedisClientError(.shutDown, "the Redis client was shut down")
        switch previous {
        case .ready(let channel, _):
            return channel.close().recover { _ in }
        case .connecting(let waiters, _):
            for waiter in waiters { waiter.promise.fail(error) }
            return connectingChannel?.close().recover { _ in } ?? eventLoop.makeSucceededVoidFuture()
        case .idle, .backingOff, .shutDown:
            return eventLoop.makeSucceededVoidFuture()
        }
    }

    // MARK: - Connecting

    private func connect(failFast: Bool, waiters: CircularBuffer<Waiter> = []) {
        attempt += 1
        let attempt = attempt
        state = .connecting(waiters: waiters, failFast: failFast)
        connectingChannel = nil
        let timeout = configuration.connectTimeout
        setupTimeout = eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            setupFailed(
                attempt,
                RedisClientError(
                    .timeout,
                    "no connection to \(endpoint) within \(RedisChannelHandler.describe(timeout))"
                        + " (TCP, TLS, AUTH, PING)"
                )
            )
        }
        guard let bootstrap = ClientBootstrap(validatingGroup: eventLoop) else {
            return setupFailed(attempt, RedisClientError(.unavailable, "this event loop cannot open TCP connections"))
        }
        let tlsContext = tlsContext
        let host = configuration.host
        let commandTimeout = configuration.commandTimeout
        let maxInFlight = configuration.maxCommandsInFlight
        let limits = configuration.replyLimits
        bootstrap
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext {
                        // SNI and the name check use the host name; an IP literal is checked against the
                        // certificate's IP addresses instead (SNI cannot carry one).
                        let isIP = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: isIP ? nil : host))
                    }
                    try sync.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
                    try sync.addHandler(MessageToByteHandler(RESPCommandEncoder()))
                    try sync.addHandler(RedisChannelHandler(commandTimeout: commandTimeout, maxInFlight: maxInFlight))
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard self.attempt == attempt, case .connecting = state else {
                        channel.close(promise: nil)
                        return
                    }
                    connectingChannel = channel
                    handshake(channel, attempt: attempt)
                case .failure(ChannelError.connectTimeout):
                    setupFailed(attempt, RedisClientError(.timeout, "connecting to \(endpoint) timed out"))
                case .failure(let error):
                    setupFailed(attempt, RedisClientError(.unavailable, "cannot connect to \(endpoint): \(error)"))
                }
            }
    }

    /// `AUTH`, `SELECT` and a `PING`, pipelined: the connection is ready when the server has answered them
    /// (over TLS, that also means the handshake and the certificate check passed).
    private func handshake(_ channel: Channel, attempt: Int) {
        let handler: RedisChannelHandler
        do {
            handler = try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self)
        } catch {
            return setupFailed(attempt, RedisClientError(.unavailable, "the connection's pipeline is incomplete"))
        }
        var commands: [RESPCommand] = []
        if let password = configuration.password {
            commands.append(RESPCommand("AUTH", configuration.username.map { [$0, password] } ?? [password]))
        }
        if configuration.database != 0 {
            commands.append(RESPCommand("SELECT", [String(configuration.database)]))
        }
        commands.append(RESPCommand("PING"))
        let replies = commands.map { command in
            let promise = eventLoop.makePromise(of: RESPValue.self)
            handler.send(command, promise: promise)
            return promise.futureResult
        }
        EventLoopFuture.whenAllSucceed(replies, on: eventLoop).assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let values):
                for (command, value) in zip(commands, values) {
                    if case .error(let message) = value {
                        return setupFailed(
                            attempt,
                            RedisClientError(.serverError, "Redis at \(endpoint) refused \(command.name): \(message)")
                        )
                    }
                }
                guard values.last == .simpleString("PONG") else {
                    return setupFailed(
                        attempt,
                        RedisClientError(.protocolError, "\(endpoint) did not answer PING with PONG")
                    )
                }
                ready(channel, handler, attempt: attempt)
            case .failure(let error):
                let failure = error as? RedisClientError ?? RedisClientError(.unavailable, "\(error)")
                setupFailed(attempt, RedisClientError(failure.code, "connecting to \(endpoint): \(failure.message)"))
            }
        }
    }

    private func ready(_ channel: Channel, _ handler: RedisChannelHandler, attempt: Int) {
        guard self.attempt == attempt, case .connecting(let waiters, _) = state else {
            channel.close(promise: nil)
            return
        }
        setupTimeout?.cancel()
        setupTimeout = nil
        connectingChannel = nil
        backoff = configuration.reconnectBackoff
        state = .ready(channel, handler)
        health.connected()
        channel.closeFuture.assumeIsolated().whenComplete { [self] _ in
            connectionClosed(channel, handler: handler)
        }
        for waiter in waiters { handler.send(waiter.command, promise: waiter.promise) }
    }

    private func setupFailed(_ attempt: Int, _ error: RedisClientError) {
        guard self.attempt == attempt, case .connecting(let waiters, _) = state else { return }
        setupTimeout?.cancel()
        setupTimeout = nil
        connectingChannel?.close(promise: nil)
        connectingChannel = nil
        state = .backingOff(error)
        health.failed(error)
        for waiter in waiters { waiter.promise.fail(error) }
        // Up to a fifth more, at random, so that replicas (and loops) do not reconnect in step.
        let delay = backoff + .nanoseconds(Int64.random(in: 0...max(0, backoff.nanoseconds / 5)))
        backoff = min(backoff + backoff, configuration.maxReconnectBackoff)
        reconnect = eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            reconnect = nil
            if case .backingOff = state { connect(failFast: true) }
        }
    }

    /// The ready connection finished: from its close, or earlier, when a command finds it finished.
    private func connectionClosed(_ channel: Channel, handler: RedisChannelHandler) {
        guard case .ready(let current, _) = state, current === channel else { return }
        channel.close(promise: nil)  // a no-op when closed or closing
        let reason = handler.finishedWith ?? RedisClientError(.unavailable, "connection closed")
        // A server that closed a connection that worked may be restarting, or something closed an idle
        // connection: try again at once, let commands wait for it, and call it an outage only if that
        // fails. One that stopped answering or answered nonsense is sick: an outage now, and commands fail
        // fast while it is tried again.
        let sick = reason.code == .timeout || reason.code == .protocolError
        if sick { health.failed(RedisClientError(reason.code, "connection to \(endpoint) dropped: \(reason.message)")) }
        connect(failFast: sick)
    }
}
