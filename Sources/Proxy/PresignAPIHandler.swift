import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Verifier

/// Answers the presign API's requests (`/api/object-storage/…`) before they reach S3 authentication, and
/// passes every other request on to the proxy handler untouched.
///
/// A thin shell over `PresignAPI`: it collects the (small, bounded) JSON body, asks the API, and for a
/// listing makes the upstream request through the proxy's own pool.
final class PresignAPIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        /// A request for the proxy: its parts go on.
        case passing
        /// An API request whose body is arriving.
        case collecting(HTTPRequestHead, body: [UInt8], tooLarge: Bool)
        /// Waiting for the upstream's answer to a listing.
        case fetching(UpstreamFetch)
        case closed
    }

    private let api: PresignAPI
    private let rewriter: UpstreamHeadRewriter
    private let upstreams: any UpstreamConnectionSource
    private let logger: Logger
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Events that would make the proxy handler close an idle connection, held while an API request runs.
    private var heldInputClosed = false

    init(api: PresignAPI, rewriter: UpstreamHeadRewriter, upstreams: any UpstreamConnectionSource, logger: Logger) {
        self.api = api
        self.rewriter = rewriter
        self.upstreams = upstreams
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (part, state) {
        case (.head(let head), .idle):
            if PresignAPI.handles(head.uri) {
                startAPIRequest(head, context: context)
            } else {
                state = .passing
                context.fireChannelRead(data)
            }
        case (.end, .passing):
            state = .idle
            context.fireChannelRead(data)
        case (_, .passing):
            context.fireChannelRead(data)
        case (.body(var bytes), .collecting(let head, var body, var tooLarge)):
            if !tooLarge, body.count + bytes.readableBytes <= api.configuration.maxBodyBytes {
                body += bytes.readBytes(length: bytes.readableBytes) ?? []
            } else {
                tooLarge = true
                body = []
            }
            state = .collecting(head, body: body, tooLarge: tooLarge)
        case (.end, .collecting(let head, let body, let tooLarge)):
            handle(head, body: body, tooLarge: tooLarge, context: context)
        case (.head, _), (.body, _), (.end, _):
            // One request at a time (HTTPServerPipelineHandler); anything else is dropped.
            break
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch (event, state) {
        case (ChannelEvent.inputClosed, .collecting), (ChannelEvent.inputClosed, .fetching):
            heldInputClosed = true
        case (is IdleStateHandler.IdleStateEvent, .fetching):
            // A listing waits on the upstream, whose own timeout ends it. (A stalled request body is not
            // held: the event goes on, and the proxy handler closes the idle connection.)
            break
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .fetching(let fetch) = state { fetch.cancel() }
        state = .closed
        context.fireChannelInactive()
    }

    // MARK: - Requests

    private func startAPIRequest(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        do throws(S3Error) {
            // Ambiguous framing would let a body be read as the next request: refuse it, and close.
            _ = try RequestFraming.validate(head.headers)
        } catch {
            let failure = PresignAPI.Failure(code: .validation, message: error.message, field: "headers")
            var closing = head
            closing.headers.replaceOrAdd(name: "Connection", value: "close")
            return respond(
                .failure(failure, requestId: UUID().uuidString.lowercased(), nowMillis: api.clock()),
                to: closing
            )
        }
        state = .collecting(head, body: [], tooLarge: false)
        if head.version == .http1_1,
            S3HeaderValues.expectsContinue(head.headers[canonicalForm: "expect"])
        {
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))),
                promise: nil
            )
        }
    }

    private func handle(_ head: HTTPRequestHead, body: [UInt8], tooLarge: Bool, context: ChannelHandlerContext) {
        let requestId = UUID().uuidString.lowercased()
        let apiKey = head.headers.first(name: "x-api-key")
        let route: PresignAPI.Route
        switch PresignAPI.route(method: head.method, uri: head.uri) {
        case .failure(let failure):
            return respond(.failure(failure, requestId: requestId, nowMillis: api.clock()), to: head)
        case .success(let r):
            route = r
        }
        if tooLarge {
            let failure = PresignAPI.Failure(
                code: .payloadTooLarge,
                message: "the body is larger than \(api.configuration.maxBodyBytes) bytes"
            )
            return respond(.failure(failure, requestId: requestId, nowMillis: api.clock()), to: head)
        }
        switch route {
        case .presign(let bucket):
            let response = api.presign(
                bucket: bucket,
                presentedKey: apiKey,
                body: body,
                fallbackURL: fallbackURL(context),
                requestId: requestId
            )
            respond(response, to: head)
        case .listObjects(let bucket):
            let rawQuery = S3RequestHead(method: "", uri: head.uri, headers: []).rawQuery
            switch api.planListing(bucket: bucket, presentedKey: apiKey, rawQuery: rawQuery, requestId: requestId) {
            case .answer(let response):
                respond(response, to: head)
            case .fetch(let plan):
                fetch(plan, for: head, requestId: requestId)
            }
        }
    }

    private func fetch(_ plan: PresignAPI.ListingPlan, for head: HTTPRequestHead, requestId: String) {
        let upstreamHead: HTTPRequestHead
        do throws(S3Error) {
            upstreamHead = try rewriter.originate(
                method: .GET,
                uri: plan.upstreamURI,
                as: plan.credential,
                region: api.configuration.region,
                now: api.clock() / 1000
            )
        } catch {
            let failure = PresignAPI.Failure(code: .internal, message: "the listing request could not be signed")
            return respond(.failure(failure, requestId: requestId, nowMillis: api.clock()), to: head)
        }
        let fetch = UpstreamFetch(upstreams: upstreams, head: upstreamHead, maxBodyBytes: 16 << 20) { [self] result in
            guard case .fetching = state else { return }
            switch result {
            case .success(let (responseHead, body)):
                respond(
                    api.listingResponse(plan, status: responseHead.status, body: body, requestId: requestId),
                    to: head
                )
            case .failure(let error):
                logger.info(
                    "presign api: upstream listing failed",
                    metadata: ["request.id": "\(requestId)", "error": "\(error)"]
                )
                respond(api.listingUnavailable(error, requestId: requestId), to: head)
            }
        }
        state = .fetching(fetch)
        fetch.start()
    }

    private func respond(_ response: PresignAPIResponse, to request: HTTPRequestHead) {
        guard let context else { return }
        let close = !request.keepsClientConnection || heldInputClosed
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(name: "Server", value: "s3-sidecar")
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if close { headers.add(name: "Connection", value: "close") }
        // Server-side failures matter to an operator; refusals (401, 429, …) are the client's business.
        logger.log(
            level: response.status.code >= 500 ? .info : .debug,
            "presign api",
            metadata: {
                var metadata: Logger.Metadata = [
                    "request.id": "\(response.requestId)", "http.method": "\(request.method.rawValue)",
                    "http.status": "\(response.status.code)",
                ]
                if let code = response.code { metadata["api.error"] = "\(code)" }
                return metadata
            }()
        )
        state = .idle
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))),
            promise: nil
        )
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))),
            promise: nil
        )
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            // A client that half-closed gets its answer first; then the connection ends.
            state = .closed
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// The listen address the request came in on, for URLs when no public URL is configured.
    private func fallbackURL(_ context: ChannelHandlerContext) -> PresignAPI.PublicURL {
        Self.fallbackURL(localAddress: context.channel.localAddress, tls: context.pipeline.syncOperations.isTLSConnection)
    }

    /// `http(s)://address[:port]`, the port left out when it is the scheme's default: the `Host` a browser
    /// sends, which the minted signature covers.
    static func fallbackURL(localAddress address: SocketAddress?, tls: Bool) -> PresignAPI.PublicURL {
        let ip = address?.ipAddress ?? "127.0.0.1"
        let host = ip.contains(":") ? "[\(ip)]" : ip
        let defaultPort = tls ? 443 : 80
        let port = address?.port ?? defaultPort
        return PresignAPI.PublicURL(scheme: tls ? "https" : "http", host: port == defaultPort ? host : "\(host):\(port)")
    }
}
