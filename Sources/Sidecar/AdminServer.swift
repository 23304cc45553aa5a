import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Proxy

/// The operator's listener, apart from the S3 one so it can stay on a private address: Prometheus
/// metrics at `/metrics`, liveness at `/healthz`, readiness at `/readyz`, and the nginx `auth_request`
/// target at `/auth`.
struct AdminServer {
    let channel: any Channel

    /// Binds the admin listener; `registry` is what `/metrics` shows.
    static func start(
        host: String,
        port: Int,
        registry: PrometheusCollectorRegistry,
        auth: AuthRequestEndpoint,
        readiness: Readiness,
        logger: Logger
    ) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(registry: registry, auth: auth, readiness: readiness))
                }
            }
            .bind(host: host, port: port)
            .get()
        logger.info("admin listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "")"])
        return AdminServer(channel: channel)
    }

    var port: Int { channel.localAddress?.port ?? 0 }
}

/// Answers the three admin paths; anything else is 404.
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let auth: AuthRequestEndpoint
    private let readiness: Readiness
    private var request: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, auth: AuthRequestEndpoint, readiness: Readiness) {
        self.registry = registry
        self.auth = auth
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        if head.method == .GET || head.method == .HEAD, path == "/readyz" {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            readiness.check(on: context.eventLoop).whenSuccess { problem in
                let (handler, context) = loopBound.value
                if let problem {
                    handler.send(.serviceUnavailable, Array("not ready: \(problem)\n".utf8), head: head, context: context)
                } else {
                    handler.send(.ok, Array("ready\n".utf8), head: head, context: context)
                }
            }
            return
        }
        let status: HTTPResponseStatus
        var body: [UInt8]
        var contentType = "text/plain; charset=utf-8"
        var extraHeaders: [AuthRequestEndpoint.Response.Header] = []
        switch (head.method, path) {
        case (_, "/auth"):
            // Any method: nginx's subrequest is a GET, but the verdict is about X-Original-Method.
            let verdict = auth.respond(
                to: head.headers.map { ($0.name, $0.value) },
                peer: context.channel.remoteAddress
            )
            status = HTTPResponseStatus(statusCode: verdict.status)
            body = []
            extraHeaders = verdict.headers
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            status = .ok
            body = []
            registry.emit(into: &body)
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            status = .ok
            body = Array("ok\n".utf8)
        default:
            status = .notFound
            body = Array("not found\n".utf8)
        }
        send(status, body, contentType: contentType, extraHeaders: extraHeaders, head: head, context: context)
    }

    private func send(
        _ status: HTTPResponseStatus,
        _ body: [UInt8],
        contentType: String = "text/plain; charset=utf-8",
        extraHeaders: [AuthRequestEndpoint.Response.Header] = [],
        head: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        for header in extraHeaders { headers.add(name: header.name, value: header.value) }
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        }
        let keepAlive = head.isKeepAlive
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { loopBound.value.close(promise: nil) }
        }
    }
}

/// What `/readyz` reports. The configuration is loaded once the admin listener runs (it starts after the S3
/// listener is bound), so ready means: not draining, and the upstream accepts a TCP connection. The probe
/// result is reused for a second, so a busy prober does not hammer the backend.
final class Readiness: Sendable {
    private struct Probe {
        var at: NIODeadline
        var problem: String?
    }

    private let upstreamHost: String
    private let upstreamPort: Int
    private let draining = NIOLockedValueBox(false)
    private let last = NIOLockedValueBox<Probe?>(nil)

    init(upstreamHost: String, upstreamPort: Int) {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
    }

    /// From now on `/readyz` answers 503, so a load balancer stops sending new requests during the drain.
    func markDraining() {
        draining.withLockedValue { $0 = true }
    }

    /// `nil` when ready, else why not.
    func check(on eventLoop: any EventLoop) -> EventLoopFuture<String?> {
        if draining.withLockedValue({ $0 }) { return eventLoop.makeSucceededFuture("draining for shutdown") }
        let now = NIODeadline.now()
        if let probe = last.withLockedValue({ $0 }), now - probe.at < .seconds(1) {
            return eventLoop.makeSucceededFuture(probe.problem)
        }
        let target = "\(upstreamHost):\(upstreamPort)"
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(2))
            .connect(host: upstreamHost, port: upstreamPort)
            .flatMap { channel in channel.close().map { nil as String? } }
            .flatMapErrorThrowing { error in "upstream \(target) unreachable (\(error))" }
            .map { [last] problem in
                last.withLockedValue { $0 = Probe(at: now, problem: problem) }
                return problem
            }
    }
}
