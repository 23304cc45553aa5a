import Logging
import NIOCore
import NIOHTTP1
import Verifier

/// The client side of the proxy: one per client connection, after NIO's HTTP server pipeline.
///
/// For each request it authenticates and authorizes the head, then either answers with an S3 error or
/// takes an upstream connection from its event loop's pool and streams the request up and the response
/// down. Reads are held on each side while the other side is not writable, so no body is ever aggregated.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One request on its way through the proxy.
    private final class Exchange {
        let requestId: String
        /// Who signed the request, for log lines (a form upload's once its fields are verified).
        var accessKeyId: String
        /// The raw request target; its path goes in `<Resource>` of error bodies.
        let uri: String
        let isHEAD: Bool
        let clientKeepAlive: Bool
        let expectContinue: Bool
        var upstreamHead: HTTPRequestHead
        let framing: RequestFraming
        /// The body checks, as they stood before the first byte (kept to start over on a retry).
        let initialPayload: RequestBodyVerifier?
        var payload: RequestBodyVerifier?
        /// A browser form upload: its body is a form, parsed and checked here, whose file goes upstream.
        var form: PostObjectUpload?
        /// The upstream's response body is replaced by the form upload's own reply.
        var dropResponseBody = false
        /// Parts that arrived before the upstream connection was ready.
        var pending: [HTTPServerRequestPart] = []
        var upstream: UpstreamConnection?
        var requestEndReceived = false
        var requestEndForwarded = false
        var responseStarted = false
        var upstreamKeepAlive = true
        var retried = false
        var sentContinue = false
        /// The access log line, filled as the exchange goes; written once, when it ends.
        var record: AccessLog.Record
        var recorded = false
        /// File bytes of a form upload forwarded so far, counted against `--max-object-size` (other bodies
        /// count through `RequestBodyVerifier.objectBytes`).
        var formFileBytes: Int64 = 0

        init(
            requestId: String,
            accessKeyId: String,
            head: HTTPRequestHead,
            upstreamHead: HTTPRequestHead,
            framing: RequestFraming,
            payload: RequestBodyVerifier?,
            record: AccessLog.Record
        ) {
            self.record = record
            self.requestId = requestId
            self.accessKeyId = accessKeyId
            self.uri = head.uri
            self.isHEAD = head.method == .HEAD
            self.clientKeepAlive = head.keepsClientConnection
            self.expectContinue =
                head.version == .http1_1 && head.headers.contains(name: "expect")
                && head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
            self.upstreamHead = upstreamHead
            self.framing = framing
            self.initialPayload = payload
            self.payload = payload
        }

        /// The request path, for `<Resource>` in error bodies: made only when an error needs it.
        var resource: String { ProxyHandler.resource(of: uri) }
    }

    /// The raw path of a request target (everything before the first `?`).
    static func resource(of uri: String) -> String {
        String(S3RequestHead(method: "", uri: uri, headers: []).rawPath)
    }

    private enum State {
        /// Waiting for a request head.
        case idle
        /// An error reply went out; the rest of the request is dropped until its `.end`.
        case discarding
        /// Authenticated; waiting for an upstream connection.
        case connecting(Exchange)
        /// Streaming request and response.
        case forwarding(Exchange)
        /// The connection is closing or closed: everything is dropped.
        case closed
    }

    private let services: ProxyServices
    private let upstreams: any UpstreamConnectionSource
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// A `read()` from the pipeline held back until reading is allowed again.
    private var pendingRead = false
    /// The client half-closed: close once the current response is out.
    private var inputClosed = false
    /// Ends a lingering close.
    private var lingerTimer: Scheduled<Void>?
    /// Request ids for this connection, without a system call per request.
    private var requestIDs = RequestID.Generator()
    /// Inside a batch of reads from the client: upstream writes are flushed once, at `channelReadComplete`.
    private var inClientReadBatch = false

    init(services: ProxyServices, upstreams: any UpstreamConnectionSource) {
        self.services = services
        self.upstreams = upstreams
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        ProxyMetrics.connectionOpened()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        ProxyMetrics.connectionClosed()
    }

    // MARK: - Client inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inClientReadBatch = true
        let part = unwrapInboundIn(data)
        switch (part, state) {
        case (.head(let head), .idle):
            receiveHead(head, context: context)
        case (.head, _):
            // HTTPServerPipelineHandler delivers one request at a time; anything else is a bug.
            close(context: context)
        case (.body, .connecting(let exchange)):
            exchange.pending.append(part)
        case (.body(let bytes), .forwarding(let exchange)):
            forwardBody(bytes, exchange)
        case (.end, .discarding):
            state = .idle
            if inputClosed { close(context: context) }
        case (.end, .connecting(let exchange)):
            exchange.requestEndReceived = true
            exchange.pending.append(part)
        case (.end, .forwarding(let exchange)):
            exchange.requestEndReceived = true
            finishRequest(exchange)
        case (.body, _), (.end, _):
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inClientReadBatch = false
        if case .forwarding(let exchange) = state {
            exchange.upstream?.flush()
        }
        context.fireChannelReadComplete()
    }

    /// Flushes the upstream now, unless a client read batch is in progress: its `channelReadComplete`
    /// flushes once for everything written meanwhile (one `write` system call per batch, not per part).
    private func flushUpstream(_ exchange: Exchange) {
        if !inClientReadBatch { exchange.upstream?.flush() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .forwarding(let exchange) = state {
            exchange.upstream?.handler.resumeRead()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        lingerTimer?.cancel()
        lingerTimer = nil
        recordCutExchange()
        abortUpstream()
        state = .closed
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Parse errors were already answered by S3ProtocolErrorHandler; whatever it was, the request can
        // no longer complete, so it must not complete upstream either.
        if case .forwarding(let exchange) = state {
            log(.debug, "client connection failed", exchange, ["error": "\(error)"])
        }
        recordCutExchange()
        abortUpstream()
        state = .closed
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is IdleStateHandler.IdleStateEvent:
            clientIdle(context: context)
        case ChannelEvent.inputClosed:
            inputClosed = true
            switch state {
            case .idle, .closed: close(context: context)
            case .discarding, .connecting, .forwarding: break
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: - Logging

    /// Logs with the exchange's request id and access key. Nothing is formatted (and no metadata dictionary
    /// built) unless the level is enabled: per-request `Logger` copies with metadata cost more than the rest
    /// of the forwarding path.
    private func log(
        _ level: Logger.Level,
        _ message: @autoclosure () -> Logger.Message,
        _ exchange: Exchange,
        _ metadata: @autoclosure () -> Logger.Metadata = [:]
    ) {
        services.logger.log(
            level: level,
            message(),
            metadata: {
                var all = metadata()
                all["request.id"] = "\(exchange.requestId)"
                if !exchange.accessKeyId.isEmpty { all["s3.access_key"] = "\(exchange.accessKeyId)" }
                return all
            }()
        )
    }

    // MARK: - Backpressure

    func read(context: ChannelHandlerContext) {
        if mayReadFromClient {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private var mayReadFromClient: Bool {
        switch state {
        case .idle, .discarding, .closed:
            true
        case .connecting:
            false
        case .forwarding(let exchange):
            (exchange.requestEndReceived || (exchange.upstream?.isWritable ?? true))
                && !(exchange.payload?.digestsBacklogged ?? false)
        }
    }

    private func resumeClientRead() {
        guard pendingRead, mayReadFromClient, let context else { return }
        pendingRead = false
        context.read()
    }

    // MARK: - Request head

    private func receiveHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let requestId = requestIDs.make()
        let s3Head = S3RequestHead(
            method: head.method.rawValue,
            uri: head.uri,
            headers: head.headers.map { ($0.name, $0.value) }
        )
        let peer = context.channel.remoteAddress
        var record = AccessLog.Record(
            requestId: requestId,
            peer: peer,
            method: head.method.rawValue,
            uri: head.uri,
            started: .now()
        )

        let framing: RequestFraming
        do throws(S3Error) {
            framing = try RequestFraming.validate(head.headers)
        } catch {
            // With ambiguous framing we cannot tell where the body ends: never keep the connection.
            return reject(error, head: head, record: record, close: true)
        }
        do throws(S3Error) {
            try ForwardingRules.checkHead(s3Head, hasBody: framing.hasBody)
        } catch {
            return reject(
                error,
                head: head,
                record: record,
                close: framing.hasBody || !head.keepsClientConnection
            )
        }
        if let (bucket, boundary) = PostObjectUpload.detect(head) {
            return receiveForm(head, bucket: bucket, boundary: boundary, framing: framing, record: record)
        }

        let upstreamHead: HTTPRequestHead
        let payload: RequestBodyVerifier
        var accessKeyId: String?
        var headAuthorized = false
        do throws(S3Error) {
            let now = services.clock()
            // Behind a trusted proxy the client signed the proxy's host and path; the policy and the upstream
            // see the request as received.
            let signedHead = services.trustedProxies.signedHead(s3Head, peer: peer)
            let auth = try services.verifier.authenticate(signedHead, now: now)
            accessKeyId = auth.accessKeyId
            record.authenticated(auth)
            ProxyMetrics.authenticated(auth)
            try ForwardingRules.checkSigned(s3Head, signed: ForwardingRules.signedHeaderNames(auth, headers: s3Head.headers))
            let operation = S3Operation(accessKeyId: auth.accessKeyId, head: s3Head)
            record.classified(operation)
            try services.authorizer.authorize(operation)
            headAuthorized = true
            try services.objectSizeLimit?.check(head, declaredLength: framing.declaredLength)
            let output = services.rewriter.bodyOutput(for: auth, headers: head.headers)
            payload = try RequestBodyVerifier(
                auth: auth,
                headers: s3Head.headers,
                declaredLength: framing.declaredLength,
                output: output,
                allocator: context.channel.allocator
            )
            if !framing.hasBody {
                // Nothing will stream: an empty body that contradicts its signed hash or checksum is refused
                // now, before an upstream request that would complete at its head.
                var probe = payload
                if case .reject(let error) = probe.finish() { throw error }
            }
            upstreamHead = try services.rewriter.rewrite(head, auth: auth, framing: framing, now: now)
        } catch {
            if !headAuthorized { ProxyMetrics.authFailed(error.code) }
            return reject(
                services.explain(error, head: s3Head),
                head: head,
                record: record,
                close: framing.hasBody || !head.keepsClientConnection
            )
        }

        let exchange = Exchange(
            requestId: requestId,
            accessKeyId: accessKeyId ?? "",
            head: head,
            upstreamHead: upstreamHead,
            framing: framing,
            payload: payload,
            record: record
        )
        if framing.hasBody, let offload = services.digestOffload,
            let worker = exchange.payload?.offloadDigests(offload, eventLoop: context.eventLoop)
        {
            worker.onProgress = { [weak self, weak exchange] in
                if let self, let exchange { self.digestsProgressed(exchange) }
            }
        }
        log(
            .debug,
            "forwarding",
            exchange,
            ["http.method": "\(head.method.rawValue)", "url.path": "\(exchange.resource)"]
        )
        connect(exchange)
    }

    private func connect(_ exchange: Exchange) {
        state = .connecting(exchange)
        upstreams.acquire { [self] result in
            upstreamAcquired(result, for: exchange)
        }
    }

    private func upstreamAcquired(_ result: Result<UpstreamConnection, UpstreamError>, for exchange: Exchange) {
        guard case .connecting(let current) = state, current === exchange, let context else {
            // The client went away meanwhile: the connection was never used.
            if case .success(let connection) = result { upstreams.release(connection, reusable: true) }
            return
        }
        let connection: UpstreamConnection
        switch result {
        case .failure(let error):
            log(.info, "upstream unavailable", exchange, ["error": "\(error)"])
            ProxyMetrics.upstreamError("connect")
            return failBeforeResponse(exchange, error.s3Error)
        case .success(let c):
            connection = c
        }
        connection.exchanges += 1
        exchange.upstream = connection
        connection.handler.delegate = self
        state = .forwarding(exchange)
        connection.write(.head(exchange.upstreamHead))

        if exchange.expectContinue && !exchange.requestEndReceived && !exchange.sentContinue {
            // Only now: the head is authenticated and the upstream is there to take the body.
            exchange.sentContinue = true
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))),
                promise: nil
            )
        }

        let pending = exchange.pending
        exchange.pending = []
        for part in pending {
            guard case .forwarding(let current) = state, current === exchange else { break }
            switch part {
            case .body(let bytes): forwardBody(bytes, exchange)
            case .end: finishRequest(exchange)
            case .head: break
            }
        }
        flushUpstream(exchange)
        resumeClientRead()
    }

    // MARK: - Request body

    private func forwardBody(_ bytes: ByteBuffer, _ exchange: Exchange) {
        exchange.record.bytesIn += Int64(bytes.readableBytes)
        if exchange.form != nil { return forwardFormBody(bytes, exchange) }
        var action = exchange.payload!.consume(bytes)
        // The object's own bytes count (decoded, for aws-chunked), not the framing that goes upstream.
        if case .reject = action {
        } else if let error = objectSizeExceeded(exchange, size: exchange.payload!.objectBytes) {
            action = .reject(error)
        }
        switch action {
        case .forward(let out):
            exchange.upstream?.write(.body(.byteBuffer(out)))
        case .forwardEach(let pieces):
            for piece in pieces { exchange.upstream?.write(.body(.byteBuffer(piece))) }
        case .hold:
            break
        case .reject(let error):
            abortExchange(exchange, error)
        }
    }

    private func finishRequest(_ exchange: Exchange) {
        switch exchange.form != nil ? exchange.form!.finish() : exchange.payload!.finish() {
        case .complete(let tail):
            // A body's tail was counted when it was read; a form's file tail is counted as it goes.
            if exchange.form != nil, let tail, let error = countFormFile(exchange, tail.readableBytes) {
                return abortExchange(exchange, error)
            }
            if let tail { exchange.upstream?.write(.body(.byteBuffer(tail))) }
            exchange.upstream?.write(.end(nil))
            flushUpstream(exchange)
            exchange.requestEndForwarded = true
        case .reject(let error):
            log(.info, "request body refused", exchange, ["s3.error": "\(error.code)"])
            abortExchange(exchange, error)
        case .waiting:
            break  // digestsProgressed calls again
        }
    }

    /// A job of the body's digest worker came back: refuse the body, finish it, or read on.
    private func digestsProgressed(_ exchange: Exchange) {
        guard case .forwarding(let current) = state, current === exchange else { return }
        if exchange.requestEndReceived {
            if !exchange.requestEndForwarded { finishRequest(exchange) }
        } else if let error = exchange.payload?.digestFailure {
            log(.info, "request body refused", exchange, ["s3.error": "\(error.code)"])
            abortExchange(exchange, error)
        } else {
            resumeClientRead()
        }
    }

    // MARK: - Browser form uploads

    /// A form upload's head: no upstream yet. The form is read (bounded) until its file part starts; then
    /// `PostObjectUpload` has verified it and says which upstream request to open.
    private func receiveForm(
        _ head: HTTPRequestHead,
        bucket: String,
        boundary: String,
        framing: RequestFraming,
        record: AccessLog.Record
    ) {
        var record = record
        record.authForm = "post-form"
        record.bucket = bucket
        record.action = S3Action.write.rawValue
        let exchange = Exchange(
            requestId: record.requestId,
            accessKeyId: "",
            head: head,
            upstreamHead: head,
            framing: framing,
            payload: nil,
            record: record
        )
        exchange.form = PostObjectUpload(
            bucket: bucket,
            boundary: boundary,
            head: head,
            declaredLength: framing.declaredLength,
            services: services
        )
        log(.debug, "form upload", exchange, ["s3.bucket": "\(bucket)"])
        state = .forwarding(exchange)
        if exchange.expectContinue, let context {
            // The authentication is in the body: the client must send it before anything can be checked.
            exchange.sentContinue = true
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))),
                promise: nil
            )
        }
    }

    private func forwardFormBody(_ bytes: ByteBuffer, _ exchange: Exchange) {
        switch exchange.form!.consume(bytes) {
        case .hold:
            break
        case .forward(let pieces):
            for piece in pieces {
                if let error = countFormFile(exchange, piece.readableBytes) {
                    return abortExchange(exchange, error)
                }
                exchange.upstream?.write(.body(.byteBuffer(piece)))
            }
        case .connect(let head, let rest):
            // The file's size is known here when the form had a Content-Length: over the limit, nothing opens.
            do throws(S3Error) {
                let fileLength = head.headers.first(name: "content-length").flatMap { Int64($0) }
                try services.objectSizeLimit?.check(head, declaredLength: fileLength)
            } catch {
                return abortExchange(exchange, error)
            }
            exchange.accessKeyId = exchange.form?.verified?.accessKeyId ?? ""
            exchange.record.accessKeyId = exchange.form?.verified?.accessKeyId
            exchange.record.key = exchange.form?.verified?.key
            exchange.upstreamHead = head
            // `rest` was counted in `bytesIn` as it arrived; it is counted again when it is replayed.
            exchange.record.bytesIn -= Int64(rest.readableBytes)
            exchange.pending = rest.readableBytes > 0 ? [.body(rest)] : []
            if exchange.requestEndReceived { exchange.pending.append(.end(nil)) }
            connect(exchange)
        case .reject(let error):
            // Refused before its fields were verified: an authentication failure, as for signed requests.
            if exchange.form?.verified == nil { ProxyMetrics.authFailed(error.code) }
            log(.info, "form upload refused", exchange, ["s3.error": "\(error.code)"])
            abortExchange(exchange, error)
        }
    }

    /// An upload's object bytes so far past the limit (a body whose size was not declared): the error that
    /// aborts it before the upstream sees the rest.
    private func objectSizeExceeded(_ exchange: Exchange, size: Int64) -> S3Error? {
        guard let limit = services.objectSizeLimit, exchange.upstreamHead.method == .PUT else { return nil }
        return size > limit.maximum ? limit.tooLarge(size) : nil
    }

    /// Counts `count` more file bytes of a form upload against the limit.
    private func countFormFile(_ exchange: Exchange, _ count: Int) -> S3Error? {
        exchange.formFileBytes += Int64(count)
        return objectSizeExceeded(exchange, size: exchange.formFileBytes)
    }

    // MARK: - Errors

    /// Answers a request that never reached the upstream.
    private func reject(_ error: S3Error, head: HTTPRequestHead, record: AccessLog.Record, close: Bool) {
        let requestId = record.requestId
        let accessKeyId = record.accessKeyId
        services.logger.info(
            "request refused",
            metadata: {
                var metadata: Logger.Metadata = [
                    "request.id": "\(requestId)", "s3.error": "\(error.code)", "http.method": "\(head.method.rawValue)",
                ]
                if let accessKeyId { metadata["s3.access_key"] = "\(accessKeyId)" }
                return metadata
            }()
        )
        state = .discarding
        ProxyMetrics.refused(error.code)
        var record = record
        record.bytesOut = writeError(
            error,
            resource: record.path,
            requestId: requestId,
            // NIO frames any response to CONNECT without a body; the connection closes after it.
            isHEAD: head.method == .HEAD || head.method == .CONNECT,
            close: close
        )
        record.finish(.refused, status: error.httpStatus, error: error.code, now: .now())
        services.accessLog.write(record)
    }

    /// Aborts the upstream request (the upstream never gets the rest of it) and answers with `error`.
    private func abortExchange(_ exchange: Exchange, _ error: S3Error) {
        abortUpstream()
        if exchange.responseStarted {
            // Too late for an error reply: cutting the connection is the only honest signal left.
            finishRecord(exchange, .aborted, status: exchange.record.upstreamStatus ?? 0, error: error.code)
            state = .closed
            if let context { close(context: context) }
        } else {
            failBeforeResponse(exchange, error)
        }
    }

    /// Answers with `error` when no response byte has gone to the client yet.
    private func failBeforeResponse(_ exchange: Exchange, _ error: S3Error) {
        // A body-less request's `.end` is on its way and costs nothing to wait for; an unread body is not.
        let bodyPending = exchange.framing.hasBody && !exchange.requestEndReceived
        let close = bodyPending || !exchange.clientKeepAlive || inputClosed
        state = exchange.requestEndReceived ? .idle : .discarding
        ProxyMetrics.refused(error.code)
        exchange.record.bytesOut += writeError(
            error,
            resource: exchange.resource,
            requestId: exchange.requestId,
            isHEAD: exchange.isHEAD,
            close: close
        )
        finishRecord(exchange, .refused, status: error.httpStatus, error: error.code)
        if !close { resumeClientRead() }
    }

    /// Writes the error reply; returns the body bytes sent.
    @discardableResult
    private func writeError(
        _ error: S3Error,
        resource: String,
        requestId: String,
        isHEAD: Bool,
        close: Bool
    ) -> Int64 {
        guard let context else { return 0 }
        let response = S3ErrorResponse(
            error,
            resource: resource,
            requestId: requestId,
            close: close,
            isHEAD: isHEAD,
            allocator: context.channel.allocator
        )
        context.write(wrapOutboundOut(.head(response.head)), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        writeEnd(context: context, close: close)
        return Int64(response.body.readableBytes)
    }

    // MARK: - Access log

    /// Writes the exchange's access log line, once.
    private func finishRecord(_ exchange: Exchange, _ outcome: AccessLog.Outcome, status: Int, error: S3Error.Code?) {
        guard !exchange.recorded else { return }
        exchange.recorded = true
        exchange.record.finish(outcome, status: status, error: error, now: .now())
        services.accessLog.write(exchange.record)
    }

    /// The connection is going away: an exchange still in flight ends as aborted.
    private func recordCutExchange() {
        switch state {
        case .connecting(let exchange), .forwarding(let exchange):
            finishRecord(exchange, .aborted, status: exchange.record.upstreamStatus ?? 0, error: nil)
        case .idle, .discarding, .closed:
            break
        }
    }

    private func writeEnd(context: ChannelHandlerContext, close: Bool) {
        if close {
            state = .closed
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                self.lingeringClose()
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    /// Closes our side after a final response, but keeps reading (and dropping) what the client still
    /// sends for a moment: closing a socket with unread data makes the kernel answer with RST, and a client
    /// still uploading would then lose the error response it is about to read (nginx's lingering close).
    private func lingeringClose() {
        guard let context, context.channel.isActive else { return }
        if inputClosed {
            context.close(promise: nil)
            return
        }
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: closed)
        closed.futureResult.assumeIsolated().whenFailure { _ in
            self.context?.close(promise: nil)
        }
        lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: services.lingerTimeout) {
            self.context?.close(promise: nil)
        }
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    private func close(context: ChannelHandlerContext) {
        state = .closed
        context.close(promise: nil)
    }

    /// Closes the upstream connection of the exchange in flight, if any, without letting it finish.
    private func abortUpstream() {
        switch state {
        case .forwarding(let exchange), .connecting(let exchange):
            exchange.payload?.cancelDigests()
            if let upstream = exchange.upstream {
                exchange.upstream = nil
                upstreams.release(upstream, reusable: false)
            }
        case .idle, .discarding, .closed:
            break
        }
    }

    private func clientIdle(context: ChannelHandlerContext) {
        switch state {
        case .idle, .discarding, .closed:
            close(context: context)
        case .connecting:
            break  // The pool's own timeouts end this.
        case .forwarding(let exchange):
            // A stalled request body is the client's fault, unless we stopped reading it ourselves; a slow
            // response is the upstream's, and its own idle timeout handles it.
            if !exchange.requestEndReceived && (exchange.upstream?.isWritable ?? true)
                && !(exchange.payload?.digestsBacklogged ?? false)
            {
                abortExchange(
                    exchange,
                    S3Error(
                        .requestTimeout,
                        "Your socket connection to the server was not read from or written to within the timeout "
                            + "period. Idle connections will be closed."
                    )
                )
            }
        }
    }
}

// MARK: - Upstream side

extension ProxyHandler: UpstreamExchangeDelegate {
    var clientIsWritable: Bool { context?.channel.isWritable ?? true }

    var requestBodyInFlight: Bool {
        if case .forwarding(let exchange) = state { return !exchange.requestEndForwarded }
        return false
    }

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard case .forwarding(let exchange) = state, let context else { return }
        switch part {
        case .head(let head):
            if head.status == .continue { return }
            if head.status.code > 100 && head.status.code < 200 {
                // S3 never switches protocols or sends other interim replies: a 101 would leave the pooled
                // connection speaking something else, so the connection goes and the exchange fails.
                return upstreamFailed(.unexpectedInterimResponse(Int(head.status.code)))
            }
            exchange.responseStarted = true
            exchange.record.upstreamStatus = Int(head.status.code)
            exchange.upstreamKeepAlive = head.isKeepAlive
            var headers = head.headers
            HopByHopHeaders.remove(from: &headers)
            if !headers.contains(name: "x-amz-request-id") {
                headers.add(name: "x-amz-request-id", value: exchange.requestId)
            }
            var status = head.status
            var replacementBody: ByteBuffer?
            if let form = exchange.form,
                let reply = form.reply(
                    to: head,
                    requestId: exchange.requestId,
                    scheme: context.pipeline.syncOperations.isTLSConnection ? "https" : "http"
                )
            {
                (status, headers, replacementBody) = (reply.head.status, reply.head.headers, reply.body)
                exchange.dropResponseBody = true
            }
            if !exchange.clientKeepAlive || !exchange.requestEndForwarded || inputClosed {
                headers.add(name: "Connection", value: "close")
            }
            log(.debug, "upstream answered", exchange, ["http.status": "\(head.status.code)"])
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                promise: nil
            )
            if let replacementBody, replacementBody.readableBytes > 0 {
                context.write(wrapOutboundOut(.body(.byteBuffer(replacementBody))), promise: nil)
            }
        case .body(let bytes):
            if exchange.dropResponseBody { return }
            exchange.record.bytesOut += Int64(bytes.readableBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
        case .end:
            completeResponse(exchange, context: context)
        }
    }

    private func completeResponse(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        finishRecord(exchange, .forwarded, status: exchange.record.upstreamStatus ?? 0, error: nil)
        if exchange.requestEndForwarded {
            upstreams.release(upstream, reusable: exchange.upstreamKeepAlive)
            let close = !exchange.clientKeepAlive || inputClosed
            state = .idle
            writeEnd(context: context, close: close)
            if !close { resumeClientRead() }
        } else {
            // The upstream answered before the request body was complete (typically an error): the rest of
            // the body has nowhere to go, and the upstream connection is mid-request.
            upstreams.release(upstream, reusable: false)
            writeEnd(context: context, close: true)
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeClientRead() }
    }

    func upstreamFailed(_ error: UpstreamError) {
        guard case .forwarding(let exchange) = state, let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        upstreams.release(upstream, reusable: false)
        // A pooled connection the upstream had closed while idle: a body-less request is safe to send again.
        // Not after a timeout or a reply: the upstream may have acted on it.
        if error == .closed && !exchange.responseStarted && !exchange.retried && upstream.exchanges > 1
            && !exchange.framing.hasBody
        {
            exchange.retried = true
            exchange.requestEndForwarded = false
            exchange.payload = exchange.initialPayload
            exchange.pending = exchange.requestEndReceived ? [.end(nil)] : []
            log(.debug, "retrying on a fresh upstream connection", exchange)
            return connect(exchange)
        }
        log(.info, "upstream failed", exchange, ["error": "\(error)"])
        ProxyMetrics.upstreamError("exchange")
        if exchange.responseStarted {
            finishRecord(exchange, .aborted, status: exchange.record.upstreamStatus ?? 0, error: nil)
            state = .closed
            context?.close(promise: nil)
        } else {
            failBeforeResponse(exchange, error.s3Error)
        }
    }
}
