import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

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
    private var idle: [UpstreamConnection] = []
    /// Connections open or being opened, busy or idle.
    private(set) var openCount = 0
    private var waiters: CircularBuffer<Waiter> = []
    private var isShutDown = false

    init(eventLoop: EventLoop, configuration: ProxyConfiguration, logger: Logger) {
        self.eventLoop = eventLoop
        self.configuration = configuration
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
        ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.timeouts.upstreamConnect)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: tuning.receiveAllocator)
            .channelOption(.maxMessagesPerRead, value: tuning.maxMessagesPerRead)
            .channelOption(.writeBufferWaterMark, value: tuning.writeBufferWaterMark)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(IdleStateHandler(readTimeout: readTimeout))
                    try sync.addHandler(UpstreamHandler())
                }
            }
            .connect(host: configuration.upstream.host, port: configuration.upstream.port)
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
