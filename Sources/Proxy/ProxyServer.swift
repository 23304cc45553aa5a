import Logging
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import Verifier

/// The sidecar's HTTP/1.1 server: listens, authenticates every request and forwards what passes.
///
/// ```swift
/// let server = try await ProxyServer.start(configuration: config, verifier: verifier, logger: logger)
/// print(server.localAddress)
/// try await server.run()   // until closed
/// ```
public final class ProxyServer: Sendable {
    /// The address actually bound (useful with port 0).
    public let localAddress: SocketAddress
    private let serverChannel: Channel
    private let group: EventLoopGroup
    private let ownsGroup: Bool
    private let pools: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>]
    /// Tells every open client connection to finish its request in flight and close (graceful shutdown).
    private let quiesce: ServerQuiescingHelper

    private init(
        localAddress: SocketAddress,
        serverChannel: Channel,
        group: EventLoopGroup,
        ownsGroup: Bool,
        pools: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>],
        quiesce: ServerQuiescingHelper
    ) {
        self.localAddress = localAddress
        self.serverChannel = serverChannel
        self.group = group
        self.ownsGroup = ownsGroup
        self.pools = pools
        self.quiesce = quiesce
    }

    /// The bound port.
    public var port: Int { localAddress.port ?? 0 }

    /// Binds the listener and starts accepting clients.
    ///
    /// - Parameters:
    ///   - configuration: Addresses, mode, timeouts, limits.
    ///   - verifier: Authenticates every request head.
    ///   - authorizer: The policy check after authentication.
    ///   - clock: Seconds since 1970; defaults to the wall clock.
    ///   - group: The event loops to run on; by default a new group of `tuning.eventLoopThreads` loops (one
    ///     per core), shut down by `close()`.
    ///   - presignAPI: The JSON presign API under `/api/object-storage/`; off when `nil`.
    ///   - logger: Where the proxy logs. Secrets and signatures are never logged.
    ///   - accessLog: One line per finished request (off by default); its metrics are counted either way.
    public static func start(
        configuration: ProxyConfiguration,
        verifier: SigV4Verifier,
        authorizer: any RequestAuthorizer = AllowAllAuthorizer(),
        clock: @escaping @Sendable () -> Int64 = ProxyServer.wallClock,
        group: EventLoopGroup? = nil,
        presignAPI: PresignAPI? = nil,
        logger: Logger,
        accessLog: AccessLog = AccessLog(logger: nil)
    ) async throws -> ProxyServer {
        let ownsGroup = group == nil
        let group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.tuning.eventLoopThreads))

        let upstreamTLS: NIOSSLContext?
        do {
            upstreamTLS =
                configuration.upstream.scheme == .https
                ? try UpstreamTLS.makeContext(caFile: configuration.upstreamCAFile) : nil
        } catch {
            if ownsGroup { try? await group.shutdownGracefully() }
            throw error
        }
        var pools: [ObjectIdentifier: NIOLoopBound<UpstreamConnectionPool>] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = try await loop.submit {
                NIOLoopBound(
                    UpstreamConnectionPool(
                        eventLoop: loop,
                        configuration: configuration,
                        tlsContext: upstreamTLS,
                        logger: logger
                    ),
                    eventLoop: loop
                )
            }.get()
        }
        let sharedPools = pools

        let services = ProxyServices(
            verifier: verifier,
            authorizer: authorizer,
            rewriter: UpstreamHeadRewriter(
                mode: configuration.mode,
                upstream: configuration.upstream,
                trailingChecksum: configuration.trailingChecksum
            ),
            clock: clock,
            logger: logger,
            lingerTimeout: configuration.timeouts.lingeringClose,
            trustedProxies: configuration.trustedProxies,
            accessLog: accessLog,
            api: presignAPI,
            cors: configuration.cors,
            objectSizeLimit: configuration.limits.maxObjectSize.map(ObjectSizeLimit.init(maximum:))
        )
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = configuration.limits.maxHeaderFieldSize
        decoderLimits.maxHeaderListSize = configuration.limits.maxHeaderSectionSize
        decoderLimits.maxHeaderFieldCount = configuration.limits.maxHeaderCount
        let limits = decoderLimits
        let tuning = configuration.tuning
        let clientIdle = configuration.timeouts.clientIdle
        let clientHead = configuration.timeouts.clientHead
        let listenerTLS = configuration.listen.tls
        let maxConnections = configuration.limits.maxConnections
        // On a loop of the process-wide group, not ours: the helper fails a promise on its loop when it is
        // deinitialised, which happens after `close()` shut our own group down ("Cannot schedule tasks on an
        // EventLoop that has already shut down" on every SIGTERM).
        let quiesce = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)

        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(quiesce.makeServerChannelHandler(channel: channel))
                        if let maxConnections { try sync.addHandler(ConnectionLimitHandler(maximum: maxConnections)) }
                    }
                }
                // One accept per read, so the connection limit is never overshot by a batch of accepts.
                .serverChannelOption(.maxMessagesPerRead, value: maxConnections == nil ? UInt(4) : UInt(1))
                .serverChannelOption(.backlog, value: configuration.listen.backlog)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(.recvAllocator, value: tuning.receiveAllocator)
                .childChannelOption(.maxMessagesPerRead, value: tuning.maxMessagesPerRead)
                .childChannelOption(.writeBufferWaterMark, value: tuning.writeBufferWaterMark)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard let pool = sharedPools[ObjectIdentifier(channel.eventLoop)]?.value else {
                            throw ChannelError.ioOnClosedChannel
                        }
                        let sync = channel.pipeline.syncOperations
                        if let listenerTLS {
                            // The context in force now: a reload changes it for connections accepted later.
                            try sync.addHandler(NIOSSLServerHandler(context: listenerTLS.context))
                        }
                        try ProxyServer.configureClientPipeline(
                            sync,
                            services: services,
                            upstreams: pool,
                            limits: limits,
                            clientIdle: clientIdle,
                            clientHead: clientHead
                        )
                    }
                }
                .bind(host: configuration.listen.host, port: configuration.listen.port)
                .get()
            guard let address = channel.localAddress else { throw ChannelError.unknownLocalAddress }
            logger.info(
                "listening",
                metadata: [
                    "address": "\(address)", "upstream": "\(configuration.upstream)",
                    "mode": "\(configuration.mode.name)", "tls": "\(listenerTLS != nil)",
                ]
            )
            return ProxyServer(
                localAddress: address,
                serverChannel: channel,
                group: group,
                ownsGroup: ownsGroup,
                pools: sharedPools,
                quiesce: quiesce
            )
        } catch {
            if ownsGroup { try? await group.shutdownGracefully() }
            throw error
        }
    }

    /// Adds the proxy's handlers to a client channel: NIO's HTTP server pipeline (with pipelining
    /// assistance and bounded heads), S3-style parse errors, the idle timeout, and the proxy handler.
    static func configureClientPipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations,
        services: ProxyServices,
        upstreams: any UpstreamConnectionSource,
        limits: NIOHTTPDecoderLimitConfiguration,
        clientIdle: TimeAmount,
        clientHead: TimeAmount? = nil
    ) throws {
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: true,
            withErrorHandling: false,
            withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: limits
        )
        if let clientHead { try RequestHeadTimeout(timeout: clientHead).install(in: pipeline) }
        try pipeline.addHandler(S3ProtocolErrorHandler())
        // Reads only: tracking writes would cost a promise per write. While a response streams, missing reads
        // are normal and the proxy handler ignores the event; the upstream side has its own timeout.
        try pipeline.addHandler(IdleStateHandler(readTimeout: clientIdle))
        if let cors = services.cors {
            try pipeline.addHandler(CORSHandler(configuration: cors))
        }
        if let api = services.api {
            try pipeline.addHandler(
                PresignAPIHandler(api: api, rewriter: services.rewriter, upstreams: upstreams, logger: services.logger)
            )
        }
        try pipeline.addHandler(ProxyHandler(services: services, upstreams: upstreams))
    }

    /// Waits until the listener is closed.
    public func run() async throws {
        try await serverChannel.closeFuture.get()
    }

    /// Graceful shutdown: stops accepting at once (new connections are refused), lets every request in
    /// flight finish and closes each client connection once it has no request left, for at most
    /// `timeout`; then closes whatever is still open (see `close()`).
    ///
    /// - Returns: `true` if every connection finished within `timeout`.
    @discardableResult
    public func drainAndClose(timeout: TimeAmount, logger: Logger) async throws -> Bool {
        let loop = group.next()
        let drained = loop.makePromise(of: Void.self)
        quiesce.initiateShutdown(promise: drained)
        // Whichever comes first completes the promise; the other completion is a no-op.
        let timer = loop.scheduleTask(in: timeout) { drained.fail(DrainTimeout()) }
        let finished = (try? await drained.futureResult.get()) != nil
        timer.cancel()
        if !finished {
            logger.warning(
                "drain timeout reached; closing the connections still open",
                metadata: ["drain.timeout_seconds": "\(timeout.nanoseconds / 1_000_000_000)"]
            )
        }
        try await close()
        return finished
    }

    /// Stops accepting, closes idle upstream connections and, if the server made its event loops, shuts
    /// them down (which closes every open connection).
    public func close() async throws {
        try? await serverChannel.close()
        for (_, pool) in pools {
            try await pool.eventLoop.submit { pool.value.shutdown() }.get()
        }
        if ownsGroup {
            try await group.shutdownGracefully()
        }
    }

    /// Whole seconds since 1970 from the system clock.
    @Sendable public static func wallClock() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}

/// The drain time ran out with connections still open.
private struct DrainTimeout: Error {}
