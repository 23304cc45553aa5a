import Crypto
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Verifier

/// Serves S3 requests, one connection at a time per task: routes each request to its operation, runs
/// the file work on the thread pool and streams object bodies with backpressure.
struct DevStoreRequestHandler: Sendable {
    let store: FileStore
    let fileIO: NonBlockingFileIO
    let threadPool: NIOThreadPool
    let configuration: DevStoreConfiguration
    let logger: Logger
    let statistics: DevStoreStatistics

    typealias Outbound = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

    /// One request in progress: its head, identity for logs and the `100 Continue` bookkeeping.
    struct Exchange {
        let head: HTTPRequestHead
        let requestID: String
        var logger: Logger
        /// The client waits for `100 Continue` before sending a body, and has not had it yet.
        var awaitingContinue: Bool
        /// The response head is on the wire: a failure now can only be reported by closing.
        var responseStarted = false
    }

    /// The response is already partly sent and cannot be completed: close the connection so the client
    /// sees a truncated response rather than a wrong one.
    struct ResponseAbandoned: Error {}

    // MARK: - Connections

    /// What becomes of a connection after a request.
    enum Continuation {
        /// Read the next request.
        case keepAlive
        /// The response is complete; close once it has been flushed to the client.
        case closeAfterFlush
        /// The request or its response broke off; close at once.
        case abort
    }

    /// How long a response may take to drain to a client before a closing connection is cut.
    static let lingerTimeout = TimeAmount.seconds(10)

    /// Serves one connection until the client closes it, asks to, or a request is abandoned.
    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let channel = connection.channel
        do {
            try await connection.executeThenClose { inbound, outbound in
                var stream = RequestStream(inbound)
                while let head = try await stream.nextHead() {
                    switch try await handle(head, stream: &stream, outbound: outbound) {
                    case .keepAlive:
                        continue
                    case .abort:
                        return
                    case .closeAfterFlush:
                        // A plain close would drop response bytes still queued; closing the output side
                        // first waits for them, bounded so a client that stops reading cannot pin us.
                        let cut = channel.eventLoop.scheduleTask(in: Self.lingerTimeout) { channel.close(promise: nil) }
                        try? await channel.close(mode: .output).get()
                        cut.cancel()
                        return
                    }
                }
            }
        } catch {
            logger.trace("development store connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Answers one request; returns what becomes of the connection.
    private func handle(
        _ head: HTTPRequestHead,
        stream: inout RequestStream,
        outbound: Outbound
    ) async throws -> Continuation {
        var exchange = Exchange(
            head: head,
            requestID: RequestID.make(),
            logger: logger,
            awaitingContinue: S3HeaderValues.expectsContinue(head.headers[canonicalForm: "expect"])
        )
        exchange.logger[metadataKey: "request.id"] = "\(exchange.requestID)"
        if let accessKey = head.headers.first(name: "x-sidecar-access-key") {
            exchange.logger[metadataKey: "s3.access_key"] = "\(accessKey)"
        }

        var response: S3Response?
        do {
            let target = try S3RequestTarget.parse(head.uri)
            let operation = try StoreOperation.route(method: head.method, target: target, headers: head.headers)
            exchange.logger.debug(
                "request",
                metadata: ["http.method": "\(head.method)", "s3.operation": "\(operation)"]
            )
            response = try await perform(
                operation,
                target: target,
                exchange: &exchange,
                stream: &stream,
                outbound: outbound
            )
        } catch let error as DevStoreError {
            exchange.logger.debug("request refused", metadata: ["s3.error": "\(error.code.s3Code)"])
            response = .error(error, resource: Self.resourcePath(head.uri), requestID: exchange.requestID)
        } catch is RequestStream.BodyEndedEarly {
            exchange.logger.debug("request body ended early; request abandoned")
            return .abort
        } catch is ResponseAbandoned {
            return .abort
        } catch let error where error is ChannelError || (error is IOError && exchange.responseStarted) {
            // The client went away mid-response: nothing to answer, nothing to report.
            exchange.logger.debug("connection lost during response", metadata: ["error": "\(error)"])
            return .abort
        } catch {
            exchange.logger.warning("request failed", metadata: ["error": "\(error)"])
            if exchange.responseStarted { return .abort }
            response = .error(.internalError, resource: Self.resourcePath(head.uri), requestID: exchange.requestID)
        }

        var keepAlive = head.isKeepAlive
        if !stream.bodyComplete {
            if exchange.awaitingContinue {
                // The client holds its body back until told to send it; refuse without inviting it.
                keepAlive = false
            } else {
                try await stream.drainBody()
            }
        }
        if var response {
            if !keepAlive { response.headers.replaceOrAdd(name: "Connection", value: "close") }
            do {
                try await write(response, exchange: exchange, outbound: outbound)
            } catch {
                exchange.logger.debug("connection lost during response", metadata: ["error": "\(error)"])
                return .abort
            }
        }
        return keepAlive ? .keepAlive : .closeAfterFlush
    }

    /// Runs an operation; returns the response to send, or `nil` if the operation sent its own.
    private func perform(
        _ operation: StoreOperation,
        target: S3RequestTarget,
        exchange: inout Exchange,
        stream: inout RequestStream,
        outbound: Outbound
    ) async throws -> S3Response? {
        let now = HTTPDates.nowMilliseconds()
        switch operation {
        case .listBuckets:
            return try await listBuckets()
        case .createBucket(let bucket):
            _ = try await readSmallBody(exchange: &exchange, stream: &stream, outbound: outbound)
            try await run { try store.createBucket(bucket, now: now) }
            var headers = HTTPHeaders()
            headers.add(name: "Location", value: "/\(bucket)")
            return .empty(headers: headers)
        case .deleteBucket(let bucket):
            try await run { try store.deleteBucket(bucket) }
            return .empty(.noContent)
        case .headBucket(let bucket):
            try await run { try store.requireBucket(bucket) }
            var headers = HTTPHeaders()
            headers.add(name: "x-amz-bucket-region", value: configuration.region)
            return .empty(headers: headers)
        case .getBucketLocation(let bucket):
            try await run { try store.requireBucket(bucket) }
            let region = configuration.region == "us-east-1" ? "" : configuration.region
            var writer = XMLWriter(root: "LocationConstraint")
            writer.characters(region)
            return .xml(writer.finished(root: "LocationConstraint"))
        case .getBucketVersioning(let bucket):
            try await run { try store.requireBucket(bucket) }
            return .xml(XMLWriter(root: "VersioningConfiguration").finished(root: "VersioningConfiguration"))
        case .listObjectsV2(let bucket):
            return try await listObjects(bucket: bucket, query: target.query, version2: true)
        case .listObjectsV1(let bucket):
            return try await listObjects(bucket: bucket, query: target.query, version2: false)
        case .listMultipartUploads(let bucket):
            return try await listUploads(bucket: bucket)
        case .deleteObjects(let bucket):
            let body = try await readSmallBody(exchange: &exchange, stream: &stream, outbound: outbound)
            return try await deleteObjects(bucket: bucket, body: body)
        case .putObject(let bucket, let key):
            return try await putObject(
                bucket: bucket,
                key: key,
                now: now,
                exchange: &exchange,
                stream: &stream,
                outbound: outbound
            )
        case .copyObject(let bucket, let key, let sourceBucket, let sourceKey):
            return try await copyObject(
                bucket: bucket,
                key: key,
                sourceBucket: sourceBucket,
                sourceKey: sourceKey,
                headers: exchange.head.headers,
                now: now
            )
        case .getObject(let bucket, let key), .headObject(let bucket, let key):
            try await getObject(bucket: bucket, key: key, exchange: &exchange, outbound: outbound)
            return nil
        case .deleteObject(let bucket, let key):
            try await run { try store.deleteObject(bucket: bucket, key: key) }
            return .empty(.noContent)
        case .createMultipartUpload(let bucket, let key):
            let stored = StoredHeaders(requestHeaders: exchange.head.headers.map { ($0.name, $0.value) })
            let record = try await run { try store.createUpload(bucket: bucket, key: key, stored: stored, now: now) }
            var writer = XMLWriter(root: "InitiateMultipartUploadResult")
            writer.element("Bucket", bucket)
            writer.element("Key", key)
            writer.element("UploadId", record.uploadID)
            return .xml(writer.finished(root: "InitiateMultipartUploadResult"))
        case .uploadPart(let bucket, let key, let uploadID, let partNumber):
            return try await uploadPart(
                bucket: bucket,
                key: key,
                uploadID: uploadID,
                partNumber: partNumber,
                now: now,
                exchange: &exchange,
                stream: &stream,
                outbound: outbound
            )
        case .uploadPartCopy(let bucket, let key, let uploadID, let partNumber, let sourceBucket, let sourceKey):
            return try await uploadPartCopy(
                bucket: bucket,
                key: key,
                uploadID: uploadID,
                partNumber: partNumber,
                sourceBucket: sourceBucket,
                sourceKey: sourceKey,
                sourceRange: exchange.head.headers.first(name: "x-amz-copy-source-range"),
                now: now
            )
        case .listParts(let bucket, let key, let uploadID):
            return try await listParts(bucket: bucket, key: key, uploadID: uploadID, query: target.query)
        case .completeMultipartUpload(let bucket, let key, let uploadID):
            let body = try await readSmallBody(exchange: &exchange, stream: &stream, outbound: outbound)
            return try await completeUpload(bucket: bucket, key: key, uploadID: uploadID, body: body, now: now)
        case .abortMultipartUpload(let bucket, let key, let uploadID):
            try await run {
                _ = try store.upload(uploadID, bucket: bucket, key: key)
                try store.abortUpload(uploadID)
            }
            return .empty(.noContent)
        }
    }

    // MARK: - Bodies

    /// Tells a client that sent `Expect: 100-continue` to go ahead, once the request is known to be
    /// acceptable.
    func sendContinueIfAwaited(exchange: inout Exchange, outbound: Outbound) async throws {
        guard exchange.awaitingContinue else { return }
        exchange.awaitingContinue = false
        try await outbound.write(.head(HTTPResponseHead(version: exchange.head.version, status: .continue)))
    }

    /// Reads a small XML body whole, as UTF-8 text.
    func readSmallBody(exchange: inout Exchange, stream: inout RequestStream, outbound: Outbound) async throws -> String
    {
        try await sendContinueIfAwaited(exchange: &exchange, outbound: outbound)
        let buffer = try await stream.collectBody(limit: configuration.maxXMLBodySize)
        return String(buffer: buffer)
    }

    /// Streams the request body into a new temporary file, returning its path, size and hex MD5.
    ///
    /// Each chunk is written before the next is read, so a slow disk slows the client instead of filling
    /// memory. If the body ends early or anything fails, the temporary file is removed.
    func receiveBody(
        exchange: inout Exchange,
        stream: inout RequestStream,
        outbound: Outbound
    ) async throws -> (path: String, size: Int64, md5: String) {
        try await sendContinueIfAwaited(exchange: &exchange, outbound: outbound)
        // aws-chunked framing is the sidecar's to verify and remove; a framed body here would be stored
        // framing and all, so it is refused instead.
        if S3HeaderValues.isAWSChunked(contentEncoding: exchange.head.headers[canonicalForm: "content-encoding"]) {
            throw DevStoreError(
                .notImplemented,
                "The development store takes decoded bodies: send aws-chunked uploads through the sidecar."
            )
        }
        let path = store.makeTemporaryPath()
        do {
            var md5 = Insecure.MD5()
            var size: Int64 = 0
            try await fileIO.withFileHandle(
                _deprecatedPath: path,
                mode: .write,
                flags: .allowFileCreation(posixMode: 0o600)
            ) { handle in
                while let chunk = try await stream.nextBodyChunk() {
                    guard chunk.readableBytes > 0 else { continue }
                    chunk.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
                    size += Int64(chunk.readableBytes)
                    try await fileIO.write(fileHandle: handle, buffer: chunk)
                }
            }
            return (path, size, Hex.encode(md5.finalize()))
        } catch {
            let store = self.store
            try? await run { store.removeTemporary(path) }
            throw error
        }
    }

    // MARK: - Writing responses

    /// Headers every response carries.
    func commonHeaders(_ headers: inout HTTPHeaders, exchange: Exchange) {
        headers.add(name: "x-amz-request-id", value: exchange.requestID)
        headers.add(name: "x-amz-id-2", value: exchange.requestID)
        headers.add(name: "Date", value: HTTPDates.httpDate(millisecondsSince1970: HTTPDates.nowMilliseconds()))
        headers.add(name: "Server", value: "s3-sidecar-devstore")
    }

    /// Sends a complete in-memory response.
    func write(_ response: S3Response, exchange: Exchange, outbound: Outbound) async throws {
        var headers = response.headers
        commonHeaders(&headers, exchange: exchange)
        let body = ByteBuffer(string: response.body)
        // 204 and 304 have no body by definition, and must not announce one.
        if response.status != .noContent && response.status != .notModified {
            headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        }
        try await outbound.write(
            .head(HTTPResponseHead(version: exchange.head.version, status: response.status, headers: headers))
        )
        if exchange.head.method != .HEAD, body.readableBytes > 0 {
            try await outbound.write(.body(.byteBuffer(body)))
        }
        try await outbound.write(.end(nil))
    }

    // MARK: - Helpers

    /// Runs blocking file work on the thread pool, mapping I/O failures to errors the handler answers.
    func run<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await threadPool.runIfActive(body)
    }

    /// The path part of a request target, for the `<Resource>` of error documents.
    static func resourcePath(_ uri: String) -> String {
        String(uri.prefix(while: { $0 != "?" }))
    }
}
