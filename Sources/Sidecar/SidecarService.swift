import Logging
import NIOCore
import Proxy
import ServiceLifecycle

/// The proxy as a swift-service-lifecycle `Service`: runs until SIGTERM or SIGINT, then drains (stops
/// accepting, lets requests in flight finish for up to the drain time) and closes. SIGHUP is left alone:
/// it belongs to the credentials reloader.
struct SidecarService: Service {
    let server: ProxyServer
    let drainTimeout: TimeAmount
    /// Called as the drain begins (readiness turns false).
    let onDrain: @Sendable () -> Void
    let logger: Logger

    func run() async throws {
        // Returns when graceful shutdown is asked for; throws only if the task is cancelled.
        try? await gracefulShutdown()
        onDrain()
        logger.notice(
            "shutting down: no new connections; draining requests in flight",
            metadata: ["drain.timeout_seconds": "\(drainTimeout.nanoseconds / 1_000_000_000)"]
        )
        let drained = try await server.drainAndClose(timeout: drainTimeout, logger: logger)
        if drained { logger.notice("drained") }
    }

    /// Runs `server` in a service group that turns SIGTERM and SIGINT into a graceful shutdown.
    static func run(
        server: ProxyServer,
        drainTimeout: TimeAmount,
        onDrain: @escaping @Sendable () -> Void = {},
        logger: Logger
    ) async throws {
        let service = SidecarService(server: server, drainTimeout: drainTimeout, onDrain: onDrain, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}
