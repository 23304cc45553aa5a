import Logging
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
        logger: Logger
    ) async throws -> AdminServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(registry: registry, auth: auth))
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
    private var request: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, auth: AuthRequestEndpoint) {
        self.registry = registry
        self.auth = auth
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
        case (.GET, "/readyz"), (.HEAD, "/readyz"):
            // The admin listener starts after the S3 listener is bound: being here means ready.
            status = .ok
            body = Array("ready\n".utf8)
        default:
            status = .notFound
            body = Array("not found\n".utf8)
        }
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
