import NIOHTTP1
import Verifier

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension DevStoreRequestHandler {
    /// ListMultipartUploads (no pagination: a development store has few uploads in flight).
    func listUploads(bucket: String) async throws -> S3Response {
        let store = self.store
        let uploads = try await run {
            try store.requireBucket(bucket)
            return try store.listUploads(bucket: bucket)
        }
        var writer = XMLWriter(root: "ListMultipartUploadsResult")
        writer.element("Bucket", bucket)
        writer.element("KeyMarker", "")
        writer.element("UploadIdMarker", "")
        writer.element("MaxUploads", "1000")
        writer.element("IsTruncated", "false")
        for upload in uploads {
            writer.open("Upload")
            writer.element("Key", upload.key)
            writer.element("UploadId", upload.uploadID)
            writer.element("StorageClass", "STANDARD")
            writer.element("Initiated", HTTPDates.iso8601(millisecondsSince1970: upload.initiated))
            writer.close("Upload")
        }
        return .xml(writer.finished(root: "ListMultipartUploadsResult"))
    }

    /// UploadPart: streamed to a temporary file, then recorded under the upload.
    func uploadPart(
        bucket: String,
        key: String,
        uploadID: String,
        partNumber: Int,
        now: Int64,
        exchange: inout Exchange,
        stream: inout RequestStream,
        outbound: Outbound
    ) async throws -> S3Response {
        let store = self.store
        _ = try await run { try store.upload(uploadID, bucket: bucket, key: key) }
        let received = try await receiveBody(exchange: &exchange, stream: &stream, outbound: outbound)
        do {
            try ContentMD5.check(header: exchange.head.headers.first(name: "content-md5"), hexDigest: received.md5)
            try await run {
                try store.commitPart(
                    uploadID: uploadID,
                    partNumber: partNumber,
                    temporaryPath: received.path,
                    size: received.size,
                    etag: received.md5,
                    now: now
                )
            }
        } catch {
            try? await run { store.removeTemporary(received.path) }
            throw error
        }
        var headers = HTTPHeaders()
        headers.add(name: "ETag", value: "\"\(received.md5)\"")
        return .empty(headers: headers)
    }

    /// UploadPartCopy: a part copied from an existing object, whole or the `x-amz-copy-source-range`
    /// (`bytes=first-last`, both ends required, as in S3).
    func uploadPartCopy(
        bucket: String,
        key: String,
        uploadID: String,
        partNumber: Int,
        sourceBucket: String,
        sourceKey: String,
        sourceRange: String?,
        now: Int64
    ) async throws -> S3Response {
        let store = self.store
        let part = try await run {
            _ = try store.upload(uploadID, bucket: bucket, key: key)
            var attempt = 0
            while true {
                let source = try store.objectMetadata(bucket: sourceBucket, key: sourceKey)
                let range = try Self.copySourceRange(sourceRange, size: source.size)
                let copied: (path: String, size: Int64, md5: String)
                do {
                    copied = try store.copyToTemporary(
                        from: store.dataPath(bucket: sourceBucket, metadata: source),
                        range: range
                    )
                } catch let error as FileStoreIOError where error.code == ENOENT && attempt < 3 {
                    // The source was replaced between reading its metadata and opening its data: read again.
                    attempt += 1
                    continue
                }
                do {
                    try store.commitPart(
                        uploadID: uploadID,
                        partNumber: partNumber,
                        temporaryPath: copied.path,
                        size: copied.size,
                        etag: copied.md5,
                        now: now
                    )
                } catch {
                    store.removeTemporary(copied.path)
                    throw error
                }
                return copied.md5
            }
        }
        var writer = XMLWriter(root: "CopyPartResult")
        writer.element("LastModified", HTTPDates.iso8601(millisecondsSince1970: now))
        writer.element("ETag", "\"\(part)\"")
        return .xml(writer.finished(root: "CopyPartResult"))
    }

    /// Parses `x-amz-copy-source-range`; `nil` (no header) copies the whole source.
    static func copySourceRange(_ header: String?, size: Int64) throws(DevStoreError) -> ByteRange? {
        guard let header else { return nil }
        let invalid = DevStoreError(
            .invalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
                + "the zero-based offsets of the first and last bytes to copy"
        )
        guard header.hasPrefix("bytes=") else { throw invalid }
        let bounds = header.dropFirst("bytes=".count).split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]), first >= 0, first <= last
        else { throw invalid }
        guard last < size else {
            throw DevStoreError(.invalidArgument, "Range specified is not valid for source object of size: \(size)")
        }
        return ByteRange(first: first, last: last)
    }

    /// ListParts, with `max-parts` and `part-number-marker` pagination.
    func listParts(bucket: String, key: String, uploadID: String, query: [String: String]) async throws -> S3Response {
        let store = self.store
        let (record, parts) = try await run {
            let record = try store.upload(uploadID, bucket: bucket, key: key)
            return (record, try store.parts(uploadID: uploadID))
        }
        let maxParts = min(Int(query["max-parts"] ?? "1000") ?? 1000, 1000)
        let marker = Int(query["part-number-marker"] ?? "0") ?? 0
        let after = parts.values.filter { $0.partNumber > marker }.sorted { $0.partNumber < $1.partNumber }
        let page = after.prefix(max(0, maxParts))
        var writer = XMLWriter(root: "ListPartsResult")
        writer.element("Bucket", bucket)
        writer.element("Key", record.key)
        writer.element("UploadId", uploadID)
        writer.element("PartNumberMarker", String(marker))
        if let last = page.last { writer.element("NextPartNumberMarker", String(last.partNumber)) }
        writer.element("MaxParts", String(maxParts))
        writer.element("IsTruncated", after.count > page.count ? "true" : "false")
        writer.element("StorageClass", "STANDARD")
        for part in page {
            writer.open("Part")
            writer.element("PartNumber", String(part.partNumber))
            writer.element("LastModified", HTTPDates.iso8601(millisecondsSince1970: part.lastModified))
            writer.element("ETag", "\"\(part.etag)\"")
            writer.element("Size", String(part.size))
            writer.close("Part")
        }
        return .xml(writer.finished(root: "ListPartsResult"))
    }

    /// CompleteMultipartUpload: validates the part list, then streams the parts into one file and
    /// commits it as the object.
    func completeUpload(
        bucket: String,
        key: String,
        uploadID: String,
        body: String,
        now: Int64
    ) async throws -> S3Response {
        let requested = try MultipartCompletion.parse(body)
        let store = self.store
        let minimumPartSize = configuration.minimumPartSize
        let metadata = try await run {
            let record = try store.upload(uploadID, bucket: bucket, key: key)
            let chosen = try MultipartCompletion.validate(
                requested: requested,
                uploaded: try store.parts(uploadID: uploadID),
                minimumPartSize: minimumPartSize
            )
            return try store.completeUpload(record, parts: chosen, now: now)
        }
        var writer = XMLWriter(root: "CompleteMultipartUploadResult")
        writer.element("Location", "/\(bucket)/\(URIEncoding.encode(key, keepSlash: true))")
        writer.element("Bucket", bucket)
        writer.element("Key", key)
        writer.element("ETag", metadata.quotedETag)
        return .xml(writer.finished(root: "CompleteMultipartUploadResult"))
    }
}
