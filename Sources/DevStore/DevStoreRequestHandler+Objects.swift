import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension DevStoreRequestHandler {
    // MARK: - PUT, copy, delete

    /// PutObject: the body goes to a temporary file and becomes the object only once all of it arrived.
    func putObject(
        bucket: String,
        key: String,
        now: Int64,
        exchange: inout Exchange,
        stream: inout RequestStream,
        outbound: Outbound
    ) async throws -> S3Response {
        let store = self.store
        // Refuse before the body is read, so a missing bucket costs the client no upload.
        try await run { try store.requireBucket(bucket) }
        let received = try await receiveBody(exchange: &exchange, stream: &stream, outbound: outbound)
        do {
            try ContentMD5.check(header: exchange.head.headers.first(name: "content-md5"), hexDigest: received.md5)
        } catch {
            try? await run { store.removeTemporary(received.path) }
            throw error
        }
        let stored = StoredHeaders(requestHeaders: exchange.head.headers.map { ($0.name, $0.value) })
        let metadata: ObjectMetadata
        do {
            metadata = try await run {
                try store.commitObject(
                    bucket: bucket,
                    key: key,
                    temporaryPath: received.path,
                    size: received.size,
                    etag: received.md5,
                    stored: stored,
                    now: now
                )
            }
        } catch {
            try? await run { store.removeTemporary(received.path) }
            throw error
        }
        var headers = HTTPHeaders()
        headers.add(name: "ETag", value: metadata.quotedETag)
        return .empty(headers: headers)
    }

    /// CopyObject: copies the source's bytes (computing a fresh MD5) and, unless the metadata directive is
    /// `REPLACE`, its metadata.
    func copyObject(
        bucket: String,
        key: String,
        sourceBucket: String,
        sourceKey: String,
        headers: HTTPHeaders,
        now: Int64
    ) async throws -> S3Response {
        let store = self.store
        let replace = headers.first(name: "x-amz-metadata-directive")?.uppercased() == "REPLACE"
        let requested = StoredHeaders(requestHeaders: headers.map { ($0.name, $0.value) })
        let metadata = try await run {
            try store.requireBucket(bucket)
            var attempt = 0
            while true {
                let source = try store.objectMetadata(bucket: sourceBucket, key: sourceKey)
                let copied: (path: String, size: Int64, md5: String)
                do {
                    copied = try store.copyToTemporary(from: store.dataPath(bucket: sourceBucket, metadata: source))
                } catch let error as FileStoreIOError where error.code == ENOENT && attempt < 3 {
                    // The source was replaced between reading its metadata and opening its data: read again.
                    attempt += 1
                    continue
                }
                let stored =
                    replace
                    ? requested
                    : StoredHeaders(
                        contentType: source.contentType,
                        headers: source.headers,
                        userMetadata: source.userMetadata
                    )
                do {
                    return try store.commitObject(
                        bucket: bucket,
                        key: key,
                        temporaryPath: copied.path,
                        size: source.size,
                        etag: copied.md5,
                        stored: stored,
                        now: now
                    )
                } catch {
                    store.removeTemporary(copied.path)
                    throw error
                }
            }
        }
        var writer = XMLWriter(root: "CopyObjectResult")
        writer.element("LastModified", HTTPDates.iso8601(millisecondsSince1970: metadata.lastModified))
        writer.element("ETag", metadata.quotedETag)
        return .xml(writer.finished(root: "CopyObjectResult"))
    }

    /// DeleteObjects: the multi-object delete of `POST /bucket?delete`.
    func deleteObjects(bucket: String, body: String) async throws -> S3Response {
        var keys: [String] = []
        var quiet = false
        for leaf in try XMLElementScanner.leaves(of: body) {
            if leaf.path == ["Delete", "Object", "Key"] { keys.append(leaf.text) }
            if leaf.path == ["Delete", "Quiet"] { quiet = leaf.text.trimmingSpaces.lowercased() == "true" }
        }
        guard keys.count <= 1000 else { throw DevStoreError.malformedXML }
        let store = self.store
        let requestedKeys = keys
        let failures: [(key: String, error: String)] = try await run {
            try store.requireBucket(bucket)
            var failures: [(key: String, error: String)] = []
            for key in requestedKeys {
                if key.isEmpty || key.utf8.count > StoreOperation.maximumKeyLength {
                    failures.append((key, "InvalidArgument"))
                    continue
                }
                do { try store.deleteObject(bucket: bucket, key: key) } catch {
                    failures.append((key, "InternalError"))
                }
            }
            return failures
        }
        var writer = XMLWriter(root: "DeleteResult")
        for key in keys where !failures.contains(where: { $0.key.utf8.elementsEqual(key.utf8) }) && !quiet {
            writer.open("Deleted")
            writer.element("Key", key)
            writer.close("Deleted")
        }
        for failure in failures {
            writer.open("Error")
            writer.element("Key", failure.key)
            writer.element("Code", failure.error)
            writer.element("Message", failure.error)
            writer.close("Error")
        }
        return .xml(writer.finished(root: "DeleteResult"))
    }

    // MARK: - GET and HEAD

    /// GetObject and HeadObject: the stored headers, then (for GET) the bytes of the object or of the one
    /// requested range, read from disk one chunk at a time.
    ///
    /// The next chunk is read only once the previous one has been accepted by the channel, whose writer
    /// suspends while the socket is not writable: a slow reader holds at most one chunk in memory here.
    func getObject(bucket: String, key: String, exchange: inout Exchange, outbound: Outbound) async throws {
        let store = self.store
        var attempt = 0
        while true {
            let metadata = try await run { try store.objectMetadata(bucket: bucket, key: key) }
            let range = ByteRange.resolve(header: exchange.head.headers.first(name: "range"), size: metadata.size)
            if case .unsatisfiable = range {
                var error = S3Response.error(
                    DevStoreError(.invalidRange, "The requested range is not satisfiable"),
                    resource: Self.resourcePath(exchange.head.uri),
                    requestID: exchange.requestID
                )
                error.headers.add(name: "Content-Range", value: "bytes */\(metadata.size)")
                try await write(error, exchange: exchange, outbound: outbound)
                return
            }
            let headers = exchange.head.headers
            switch ConditionalRequest.evaluate(
                ifMatch: headers.first(name: "if-match"),
                ifNoneMatch: headers.first(name: "if-none-match"),
                ifModifiedSince: headers.first(name: "if-modified-since"),
                ifUnmodifiedSince: headers.first(name: "if-unmodified-since"),
                quotedETag: metadata.quotedETag,
                lastModifiedMilliseconds: metadata.lastModified
            ) {
            case .proceed:
                break
            case .notModified:
                var notModified = S3Response.empty(.notModified)
                notModified.headers.add(name: "ETag", value: metadata.quotedETag)
                notModified.headers.add(
                    name: "Last-Modified",
                    value: HTTPDates.httpDate(millisecondsSince1970: metadata.lastModified)
                )
                try await write(notModified, exchange: exchange, outbound: outbound)
                return
            case .preconditionFailed:
                throw DevStoreError(
                    .preconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                )
            }
            if exchange.head.method == .HEAD {
                try await writeObjectHead(metadata, range: range, exchange: &exchange, outbound: outbound)
                try await outbound.write(.end(nil))
                return
            }
            do {
                try await fileIO.withFileHandle(
                    _deprecatedPath: store.dataPath(bucket: bucket, metadata: metadata),
                    mode: .read
                ) { handle in
                    try await writeObjectHead(metadata, range: range, exchange: &exchange, outbound: outbound)
                    try await streamBody(handle, metadata: metadata, range: range, outbound: outbound)
                }
                return
            } catch let error as IOError where error.errnoCode == ENOENT && !exchange.responseStarted && attempt < 3 {
                // Replaced between reading the metadata and opening the data: read the new version.
                attempt += 1
            }
        }
    }

    private func writeObjectHead(
        _ metadata: ObjectMetadata,
        range: ByteRange.Resolution,
        exchange: inout Exchange,
        outbound: Outbound
    ) async throws {
        var headers = HTTPHeaders()
        commonHeaders(&headers, exchange: exchange)
        headers.add(name: "ETag", value: metadata.quotedETag)
        headers.add(name: "Last-Modified", value: HTTPDates.httpDate(millisecondsSince1970: metadata.lastModified))
        headers.add(name: "Content-Type", value: metadata.contentType)
        headers.add(name: "Accept-Ranges", value: "bytes")
        for (name, value) in metadata.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: name, value: value) }
        for (name, value) in metadata.userMetadata.sorted(by: { $0.key < $1.key }) {
            headers.add(name: "x-amz-meta-" + name, value: value)
        }
        let status: HTTPResponseStatus
        if case .partial(let byteRange) = range {
            status = .partialContent
            headers.add(name: "Content-Range", value: "bytes \(byteRange.first)-\(byteRange.last)/\(metadata.size)")
            headers.add(name: "Content-Length", value: String(byteRange.count))
        } else {
            status = .ok
            headers.add(name: "Content-Length", value: String(metadata.size))
        }
        if !exchange.head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        exchange.responseStarted = true
        try await outbound.write(
            .head(HTTPResponseHead(version: exchange.head.version, status: status, headers: headers))
        )
    }

    private func streamBody(
        _ handle: NIOFileHandle,
        metadata: ObjectMetadata,
        range: ByteRange.Resolution,
        outbound: Outbound
    ) async throws {
        var offset: Int64 = 0
        var remaining = metadata.size
        if case .partial(let byteRange) = range {
            offset = byteRange.first
            remaining = byteRange.count
        }
        let allocator = ByteBufferAllocator()
        while remaining > 0 {
            let count = Int(min(Int64(configuration.readChunkSize), remaining))
            let chunk = try await fileIO.read(
                fileHandle: handle,
                fromOffset: offset,
                byteCount: count,
                allocator: allocator
            )
            // A short read means the file is not what the metadata says: end the response by closing.
            guard chunk.readableBytes > 0 else { throw ResponseAbandoned() }
            statistics.bytesReadForResponses.add(chunk.readableBytes, ordering: .relaxed)
            offset += Int64(chunk.readableBytes)
            remaining -= Int64(chunk.readableBytes)
            try await outbound.write(.body(.byteBuffer(chunk)))
        }
        try await outbound.write(.end(nil))
    }
}
