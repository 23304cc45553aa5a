import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Keep-alive connections to the upstream for one event loop. Client and upstream channels of a request
/// share that loop, so the pool needs no locks: it is only ever touched from its loop.
final class UpstreamConnectionPool: UpstreamConnectionSource {
    typealias Callback = (Result<UpstreamConnection, UpstreamError>) -> Void

    private final class Waiter {
        let callback: Callback
        var timeout: Scheduled<Void>?
        init(callback: @escaping Callback) { self.callback = callback }
    }

    private let eventLoop: EventLoop
    private let configuration: ProxyConfiguration
    private let logger: Logger
    /// For an `https` upstream: the client TLS context every connection starts from.
    private let tlsContext: NIOSSLContext?
    private var idle: [UpstreamConnection] = []
    /// Connections open or being opened, busy or idle.
    private(set) var openCount = 0
    private var waiters: CircularBuffer<Waiter> = []
    private var isShutDown = false

    init(eventLoop: EventLoop, configuration: ProxyConfiguration, tlsContext: NIOSSLContext? = nil, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.tlsContext = tlsContext
        self.logger = logger
    }

    /// Idle connections, for tests and metrics.
    var idleCount: Int { idle.count }

    func acquire(_ callback: @escaping Callback) {
        eventLoop.assertInEventLoop()
        if isShutDown { return callback(.failure(.shutDown)) }
        let maxIdle = configuration.timeouts.upstreamPoolIdle
        let now = NIODeadline.now()
        while let connection = idle.popLast() {
            if connection.isActive && now - connection.idleSince < maxIdle {
                return callback(.success(connection))
            }
            connection.close()
        }
        if openCount < configuration.pool.maxConnectionsPerEventLoop {
            return connect(callback)
        }
        guard waiters.count < configuration.pool.maxWaitersPerEventLoop else {
            return callback(.failure(.poolExhausted))
        }
        let waiter = Waiter(callback: callback)
        waiter.timeout = eventLoop.assumeIsolated().scheduleTask(in: configuration.timeouts.upstreamPoolWait) {
            if let index = self.waiters.firstIndex(where: { $0 === waiter }) {
                self.waiters.remove(at: index)
                waiter.callback(.failure(.poolWaitTimeout))
            }
        }
        waiters.append(waiter)
    }

    func release(_ connection: UpstreamConnection, reusable: Bool) {
        eventLoop.assertInEventLoop()
        connection.handler.delegate = nil
        guard reusable, connection.isActive, !isShutDown else {
            connection.close()
            return
        }
        if let waiter = waiters.popFirst() {
            waiter.timeout?.cancel()
            return waiter.callback(.success(connection))
        }
        connection.idleSince = .now()
        idle.append(connection)
    }

    /// Closes every idle connection and fails the waiters; busy connections close as their exchanges end.
    func shutdown() {
        isShutDown = true
        for connection in idle { connection.close() }
        idle.removeAll()
        while let waiter = waiters.popFirst() {
            waiter.timeout?.cancel()
            waiter.callback(.failure(.shutDown))
        }
    }

    // MARK: - Connecting

    private func connect(_ callback: @escaping Callback) {
        openCount += 1
        let tuning = configuration.tuning
        let readTimeout = configuration.timeouts.upstreamRead
        let tlsContext = tlsContext
        let upstream = configuration.upstream
        // Completed by the handshake handler; made here so the connect result can wait on it.
        let handshake: EventLoopPromise<Void>? = tlsContext == nil ? nil : eventLoop.makePromise()
        ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.timeouts.upstreamConnect)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: tuning.receiveAllocator)
            .channelOption(.maxMessagesPerRead, value: tuning.maxMessagesPerRead)
            .channelOption(.writeBufferWaterMark, value: tuning.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tlsContext {
                        // SNI and the name check use the host name; an IP literal is checked against the
                        // certificate's IP addresses instead (SNI cannot carry one).
                        try sync.addHandler(
                            NIOSSLClientHandler(
                                context: tlsContext,
                                serverHostname: upstream.hostIsIPAddress ? nil : upstream.host
                            )
                        )
                        if let handshake { try sync.addHandler(UpstreamTLSHandshakeHandler(done: handshake)) }
                    }
                    // `addHTTPClientHandlers()`, but with interim (1xx) responses passed on instead of dropped:
                    // S3 sends only `100 Continue`, and the proxy treats any other as a failed exchange.
                    try sync.addHandlers([
                        HTTPRequestEncoder(),
                        ByteToMessageHandler(
                            HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)
                        ),
                        NIOHTTPRequestHeadersValidator(),
                    ])
                    try sync.addHandler(IdleStateHandler(readTimeout: readTimeout))
                    try sync.addHandler(UpstreamHandler())
                }
            }
            .connect(host: configuration.upstream.host, port: configuration.upstream.port)
            .flatMapErrorThrowing { error in
                handshake?.fail(error)  // never left pending (a no-op if the handler already completed it)
                throw error
            }
            .flatMap { channel in
                // Over TLS the connection is usable only once the handshake (and the certificate check) passed.
                guard let handshake else { return channel.eventLoop.makeSucceededFuture(channel) }
                return handshake.futureResult.map { channel }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw UpstreamTLSFailure(underlying: error)
                }
            }
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
                        channel.close(promise: nil)
                        self.connectFailed(.connectFailed("pipeline setup failed"), callback: callback)
                        return
                    }
                    let connection = UpstreamConnection(channel: channel, handler: handler)
                    channel.closeFuture.assumeIsolated().whenComplete { _ in
                        self.connectionClosed(connection)
                    }
                    callback(.success(connection))
                case .failure(ChannelError.connectTimeout):
                    self.connectFailed(.connectTimeout, callback: callback)
                case .failure(let failure as UpstreamTLSFailure):
                    // An operator's problem (wrong CA, wrong name), not a passing network hiccup: say it loudly.
                    self.logger.error(
                        "upstream TLS handshake failed",
                        metadata: ["upstream": "\(self.configuration.upstream)", "error": "\(failure.underlying)"]
                    )
                    self.connectFailed(.connectFailed("TLS: \(failure.underlying)"), callback: callback)
                case .failure(let error):
                    self.logger.debug("upstream connect failed", metadata: ["error": "\(error)"])
                    self.connectFailed(.connectFailed(String(describing: error)), callback: callback)
                }
            }
    }

    private func connectFailed(_ error: UpstreamError, callback: Callback) {
        // The slot was never used: free it, fail this request, and let a waiter try its luck.
        openCount -= 1
        callback(.failure(error))
        serveWaiterWithNewConnection()
    }

    private func connectionClosed(_ connection: UpstreamConnection) {
        openCount -= 1
        idle.removeAll { $0 === connection }
        serveWaiterWithNewConnection()
    }

    private func serveWaiterWithNewConnection() {
        guard !isShutDown, openCount < configuration.pool.maxConnectionsPerEventLoop, let waiter = waiters.popFirst()
        else { return }
        waiter.timeout?.cancel()
        connect(waiter.callback)
    }
}

/// A TLS handshake with the upstream that failed after the TCP connect succeeded.
struct UpstreamTLSFailure: Error {
    var underlying: any Error
}
