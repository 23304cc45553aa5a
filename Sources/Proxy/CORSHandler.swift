import NIOCore
import NIOHTTP1
import Verifier

/// Browser cross-origin support for every response of the listener: S3 requests, their errors, upstream
/// responses and the presign API alike.
///
/// Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered here without
/// authentication: 204 with the `Access-Control-*` headers for an allowed origin, 403 without them for
/// any other. Every other response gets `Access-Control-Allow-Origin` and the exposed headers when its
/// request came from an allowed origin, and `Vary: Origin` always, so no cache hands one origin's answer
/// to another.
final class CORSHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let configuration: CORSConfiguration
    /// The `Origin` of the request being answered, if allowed (HTTPServerPipelineHandler delivers one
    /// request at a time, so there is only ever one).
    private var allowedOrigin: String?
    /// A preflight was answered here: its remaining parts are dropped.
    private var swallowing = false
    private var requestIDs = RequestID.Generator()

    init(configuration: CORSConfiguration) {
        self.configuration = configuration
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let origin = head.headers.first(name: "origin")
            allowedOrigin = origin.flatMap { configuration.allows(origin: $0) ? $0 : nil }
            if head.method == .OPTIONS, let origin,
                let method = head.headers.first(name: "access-control-request-method")
            {
                swallowing = true
                answerPreflight(head, origin: origin, method: method, context: context)
                return
            }
            context.fireChannelRead(data)
        case .body, .end:
            if swallowing {
                if case .end = unwrapInboundIn(data) { swallowing = false }
                return
            }
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = unwrapOutboundIn(data), head.status.code >= 200 else {
            return context.write(data, promise: promise)
        }
        addHeaders(to: &head.headers)
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }

    private func addHeaders(to headers: inout HTTPHeaders) {
        headers.add(name: "Vary", value: "Origin")
        guard let origin = allowedOrigin else { return }
        headers.replaceOrAdd(name: "Access-Control-Allow-Origin", value: origin)
        if !configuration.exposedHeaders.isEmpty {
            headers.replaceOrAdd(
                name: "Access-Control-Expose-Headers",
                value: configuration.exposedHeaders.joined(separator: ", ")
            )
        }
    }

    private func answerPreflight(
        _ head: HTTPRequestHead,
        origin: String,
        method: String,
        context: ChannelHandlerContext
    ) {
        let requested = head.headers[canonicalForm: "access-control-request-headers"].map(String.init)
            .filter { !$0.isEmpty }
        let allowed =
            allowedOrigin != nil && configuration.allows(method: method)
            && configuration.allows(requestedHeaders: requested)
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        var body = context.channel.allocator.buffer(capacity: 0)
        if allowed {
            status = .noContent
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
            headers.add(
                name: "Access-Control-Allow-Methods",
                value: configuration.allowedMethods.joined(separator: ", ")
            )
            if !requested.isEmpty {
                headers.add(
                    name: "Access-Control-Allow-Headers",
                    value: configuration.allowedHeaders.contains("*")
                        ? requested.joined(separator: ", ") : configuration.allowedHeaders.joined(separator: ", ")
                )
            }
            headers.add(name: "Access-Control-Max-Age", value: String(configuration.maxAgeSeconds))
            headers.add(name: "Vary", value: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        } else {
            // S3's answer to a refused preflight; no Access-Control-* header, so the browser blocks the call.
            let response = S3ErrorResponse(
                S3Error(.accessDenied, "CORSResponse: This CORS request is not allowed."),
                resource: ProxyHandler.resource(of: head.uri),
                requestId: requestIDs.make(),
                close: !head.keepsClientConnection,
                allocator: context.channel.allocator
            )
            status = response.head.status
            headers = response.head.headers
            headers.remove(name: "content-length")
            headers.remove(name: "connection")
            body = response.body
            headers.add(name: "Vary", value: "Origin")
        }
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        if !headers.contains(name: "server") { headers.add(name: "Server", value: "s3-sidecar") }
        if !head.keepsClientConnection { headers.add(name: "Connection", value: "close") }
        allowedOrigin = nil
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        if body.readableBytes > 0 { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.keepsClientConnection {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}
