import Crypto
import Foundation
import Synchronization
import Verifier

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The store's files on disk. Every method blocks: callers run them on a thread pool.
///
/// Layout under the data directory:
/// ```
/// buckets/<bucket>/bucket.json                       the bucket exists once this file does
/// buckets/<bucket>/objects/<h0h1>/<sha256>.json      ObjectMetadata, holding the real key
/// buckets/<bucket>/objects/<h0h1>/<sha256>.<id>.data the object's bytes, a new name per write
/// .devstore/tmp/<id>                                 uploads in flight; emptied at start
/// .devstore/uploads/<uploadId>/upload.json           MultipartUploadRecord
/// .devstore/uploads/<uploadId>/part-<n>.json, .data  PartRecord and its bytes
/// ```
/// Only validated bucket names, SHA-256 hex digests, store-made identifiers and part numbers appear in
/// paths, never a key, so no key can escape the directory or name a bookkeeping file; and no bucket
/// name can start with a dot, so none can be `.devstore`.
final class FileStore: Sendable {
    /// The absolute data directory.
    let root: String
    /// Serializes the short metadata commits (rename into place, replace metadata, delete an old data
    /// file, delete a bucket), so that racing writers of one key never leak or delete each other's data.
    private let commitLock = Mutex(())

    private var bucketsDirectory: String { root + "/buckets" }
    private var temporaryDirectory: String { root + "/.devstore/tmp" }
    private var uploadsDirectory: String { root + "/.devstore/uploads" }

    /// Opens (creating if needed) the store at `dataDirectory`, removing temporary files that a previous
    /// run left behind when it stopped mid-upload.
    init(dataDirectory: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let absolute = URL(fileURLWithPath: dataDirectory).standardizedFileURL.resolvingSymlinksInPath().path
        self.root = absolute
        try manager.createDirectory(atPath: bucketsDirectory, withIntermediateDirectories: true)
        try manager.createDirectory(atPath: uploadsDirectory, withIntermediateDirectories: true)
        try? manager.removeItem(atPath: temporaryDirectory)
        try manager.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
    }

    // MARK: - Temporary files

    /// A fresh path for an upload in flight.
    func makeTemporaryPath() -> String {
        temporaryDirectory + "/" + UploadID.make()
    }

    /// Removes a temporary file if it is still there.
    func removeTemporary(_ path: String) {
        unlink(path)
    }

    // MARK: - Buckets

    private func bucketDirectory(_ bucket: String) -> String { bucketsDirectory + "/" + bucket }

    /// Whether the bucket exists.
    func bucketExists(_ bucket: String) -> Bool {
        access(bucketDirectory(bucket) + "/bucket.json", F_OK) == 0
    }

    /// Throws `NoSuchBucket` unless the bucket exists.
    func requireBucket(_ bucket: String) throws(DevStoreError) {
        guard bucketExists(bucket) else { throw DevStoreError.noSuchBucket }
    }

    private struct BucketRecord: Codable {
        var created: Int64
    }

    /// Creates a bucket; `BucketAlreadyOwnedByYou` if it exists.
    func createBucket(_ bucket: String, now: Int64) throws {
        try commitLock.withLock { _ in
            if bucketExists(bucket) { throw DevStoreError.bucketAlreadyOwnedByYou }
            let directory = bucketDirectory(bucket)
            try FileManager.default.createDirectory(atPath: directory + "/objects", withIntermediateDirectories: true)
            // bucket.json is written last and atomically: it is what makes the bucket exist.
            try writeJSON(BucketRecord(created: now), to: directory + "/bucket.json")
        }
    }

    /// Deletes a bucket that holds no object (`BucketNotEmpty` otherwise), and with it any multipart
    /// upload still in progress there, which would otherwise be orphaned.
    func deleteBucket(_ bucket: String) throws {
        try commitLock.withLock { _ in
            try requireBucket(bucket)
            guard try allObjectMetadataFiles(bucket).isEmpty else { throw DevStoreError.bucketNotEmpty }
            // Move aside first so the bucket disappears at once, then delete at leisure.
            let trash = makeTemporaryPath()
            guard rename(bucketDirectory(bucket), trash) == 0 else { throw posixError("rename") }
            try? FileManager.default.removeItem(atPath: trash)
            for upload in try listUploads(bucket: bucket) {
                let uploadTrash = makeTemporaryPath()
                if rename(uploadDirectory(upload.uploadID), uploadTrash) == 0 {
                    try? FileManager.default.removeItem(atPath: uploadTrash)
                }
            }
        }
    }

    /// Every bucket with its creation time, sorted by name.
    func listBuckets() throws -> [(name: String, created: Int64)] {
        var result: [(name: String, created: Int64)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: bucketsDirectory) where BucketName.isValid(name)
        {
            guard let record: BucketRecord = try readJSON(bucketDirectory(name) + "/bucket.json") else { continue }
            result.append((name, record.created))
        }
        return result.sorted { $0.name < $1.name }
    }

    // MARK: - Objects

    /// The directory and the file stem for a key: both derived from the key's SHA-256 alone.
    private func objectLocation(bucket: String, key: String) -> (directory: String, stem: String) {
        let hash = Hex.encode(SHA256.hash(data: Array(key.utf8)))
        return (bucketDirectory(bucket) + "/objects/" + hash.prefix(2), hash)
    }

    /// The object's metadata; `NoSuchBucket` or `NoSuchKey` if absent.
    func objectMetadata(bucket: String, key: String) throws -> ObjectMetadata {
        try requireBucket(bucket)
        let location = objectLocation(bucket: bucket, key: key)
        guard let metadata: ObjectMetadata = try readJSON(location.directory + "/" + location.stem + ".json"),
            metadata.key.utf8.elementsEqual(key.utf8)
        else { throw DevStoreError.noSuchKey }
        return metadata
    }

    /// The path of the data file the metadata names.
    func dataPath(bucket: String, metadata: ObjectMetadata) -> String {
        objectLocation(bucket: bucket, key: metadata.key).directory + "/" + metadata.dataFile
    }

    /// Moves a complete temporary file into place as the object's new content and records its metadata.
    ///
    /// The metadata file's rename is the commit point: until then readers see the previous version, and
    /// a crash leaves at worst an orphaned data file, never a half-written object.
    func commitObject(
        bucket: String,
        key: String,
        temporaryPath: String,
        size: Int64,
        etag: String,
        stored: StoredHeaders,
        now: Int64
    ) throws -> ObjectMetadata {
        let location = objectLocation(bucket: bucket, key: key)
        let dataFile = location.stem + "." + UploadID.make() + ".data"
        let metadata = ObjectMetadata(
            key: key,
            size: size,
            etag: etag,
            lastModified: now,
            contentType: stored.contentType,
            headers: stored.headers,
            userMetadata: stored.userMetadata,
            dataFile: dataFile
        )
        try commitLock.withLock { _ in
            try requireBucket(bucket)
            try FileManager.default.createDirectory(atPath: location.directory, withIntermediateDirectories: true)
            let metadataPath = location.directory + "/" + location.stem + ".json"
            let previous: ObjectMetadata? = try readJSON(metadataPath)
            guard rename(temporaryPath, location.directory + "/" + dataFile) == 0 else { throw posixError("rename") }
            do {
                try writeJSON(metadata, to: metadataPath)
            } catch {
                unlink(location.directory + "/" + dataFile)
                throw error
            }
            if let previous { unlink(location.directory + "/" + previous.dataFile) }
        }
        return metadata
    }

    /// Deletes an object; deleting an absent key succeeds, as in S3.
    func deleteObject(bucket: String, key: String) throws {
        try commitLock.withLock { _ in
            try requireBucket(bucket)
            let location = objectLocation(bucket: bucket, key: key)
            let metadataPath = location.directory + "/" + location.stem + ".json"
            guard let metadata: ObjectMetadata = try readJSON(metadataPath) else { return }
            unlink(metadataPath)
            unlink(location.directory + "/" + metadata.dataFile)
        }
    }

    private func allObjectMetadataFiles(_ bucket: String) throws -> [String] {
        let objects = bucketDirectory(bucket) + "/objects"
        var files: [String] = []
        let manager = FileManager.default
        for shard in (try? manager.contentsOfDirectory(atPath: objects)) ?? [] {
            let shardPath = objects + "/" + shard
            for name in (try? manager.contentsOfDirectory(atPath: shardPath)) ?? [] where name.hasSuffix(".json") {
                files.append(shardPath + "/" + name)
            }
        }
        return files
    }

    /// Every object in the bucket, sorted by the UTF-8 bytes of its key.
    ///
    /// Reads every metadata file: fine for a development store, linear in the bucket's size.
    func allObjects(bucket: String) throws -> [ObjectMetadata] {
        try requireBucket(bucket)
        var objects: [ObjectMetadata] = []
        for path in try allObjectMetadataFiles(bucket) {
            // A file deleted since the directory was read is simply no longer listed.
            if let metadata: ObjectMetadata = try? readJSON(path) { objects.append(metadata) }
        }
        return objects.sorted { ListingPage.utf8Precedes($0.key, $1.key) }
    }

    // MARK: - Copy

    /// Copies a file, or the byte range of it, into a new temporary file; returns its path, its size and
    /// the hex MD5 of its bytes.
    func copyToTemporary(
        from source: String,
        range: ByteRange? = nil
    ) throws -> (path: String, size: Int64, md5: String) {
        let destination = makeTemporaryPath()
        var md5 = Insecure.MD5()
        var size: Int64 = 0
        do {
            try Self.append(from: [(source, range)], to: destination) { chunk in
                md5.update(bufferPointer: chunk)
                size += Int64(chunk.count)
            }
        } catch {
            unlink(destination)
            throw error
        }
        if let range, size != range.count {
            unlink(destination)
            throw FileStoreIOError(operation: "read", code: EIO)
        }
        return (destination, size, Hex.encode(md5.finalize()))
    }

    /// Streams `sources` (each whole, or only its `range`) one after the other into a new file at
    /// `destination`, one buffer at a time.
    private static func append(
        from sources: [(path: String, range: ByteRange?)],
        to destination: String,
        observe: (UnsafeRawBufferPointer) -> Void = { _ in }
    ) throws {
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw posixError("open") }
        defer { close(output) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        for (source, range) in sources {
            let input = open(source, O_RDONLY | O_CLOEXEC)
            guard input >= 0 else { throw posixError("open") }
            defer { close(input) }
            var remaining = range?.count ?? Int64.max
            if let range, lseek(input, off_t(range.first), SEEK_SET) < 0 { throw posixError("lseek") }
            while remaining > 0 {
                let count = read(input, buffer.baseAddress, Int(min(Int64(buffer.count), remaining)))
                if count < 0, errno == EINTR { continue }
                guard count >= 0 else { throw posixError("read") }
                if count == 0 { break }
                remaining -= Int64(count)
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<count])
                observe(chunk)
                var written = 0
                while written < count {
                    let result = write(output, chunk.baseAddress! + written, count - written)
                    if result < 0, errno == EINTR { continue }
                    guard result > 0 else { throw posixError("write") }
                    written += result
                }
            }
        }
    }

    // MARK: - Multipart uploads

    private func uploadDirectory(_ uploadID: String) -> String { uploadsDirectory + "/" + uploadID }

    /// Starts a multipart upload and returns its record.
    func createUpload(bucket: String, key: String, stored: StoredHeaders, now: Int64) throws -> MultipartUploadRecord {
        try requireBucket(bucket)
        let record = MultipartUploadRecord(
            uploadID: UploadID.make(),
            bucket: bucket,
            key: key,
            initiated: now,
            contentType: stored.contentType,
            headers: stored.headers,
            userMetadata: stored.userMetadata
        )
        try FileManager.default.createDirectory(
            atPath: uploadDirectory(record.uploadID),
            withIntermediateDirectories: true
        )
        try writeJSON(record, to: uploadDirectory(record.uploadID) + "/upload.json")
        return record
    }

    /// The upload's record, checked against the bucket and key of the request; `NoSuchUpload` otherwise.
    func upload(_ uploadID: String, bucket: String, key: String) throws -> MultipartUploadRecord {
        try requireBucket(bucket)
        guard let record: MultipartUploadRecord = try readJSON(uploadDirectory(uploadID) + "/upload.json"),
            record.bucket == bucket, record.key.utf8.elementsEqual(key.utf8)
        else { throw DevStoreError.noSuchUpload }
        return record
    }

    /// Records an uploaded part, replacing an earlier upload of the same part number.
    func commitPart(
        uploadID: String,
        partNumber: Int,
        temporaryPath: String,
        size: Int64,
        etag: String,
        now: Int64
    ) throws {
        let directory = uploadDirectory(uploadID)
        let dataFile = "part-\(partNumber).\(UploadID.make()).data"
        let record = PartRecord(partNumber: partNumber, size: size, etag: etag, lastModified: now, dataFile: dataFile)
        try commitLock.withLock { _ in
            guard access(directory + "/upload.json", F_OK) == 0 else { throw DevStoreError.noSuchUpload }
            let recordPath = directory + "/part-\(partNumber).json"
            let previous: PartRecord? = try readJSON(recordPath)
            guard rename(temporaryPath, directory + "/" + dataFile) == 0 else { throw posixError("rename") }
            try writeJSON(record, to: recordPath)
            if let previous { unlink(directory + "/" + previous.dataFile) }
        }
    }

    /// The uploaded parts by part number.
    func parts(uploadID: String) throws -> [Int: PartRecord] {
        var parts: [Int: PartRecord] = [:]
        let directory = uploadDirectory(uploadID)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory)
        where name.hasPrefix("part-") && name.hasSuffix(".json") {
            if let record: PartRecord = try? readJSON(directory + "/" + name) { parts[record.partNumber] = record }
        }
        return parts
    }

    /// Aborts an upload, deleting its parts.
    func abortUpload(_ uploadID: String) throws {
        try commitLock.withLock { _ in
            let trash = makeTemporaryPath()
            guard rename(uploadDirectory(uploadID), trash) == 0 else { throw DevStoreError.noSuchUpload }
            try? FileManager.default.removeItem(atPath: trash)
        }
    }

    /// Assembles the chosen parts into the object and ends the upload.
    func completeUpload(_ record: MultipartUploadRecord, parts: [PartRecord], now: Int64) throws -> ObjectMetadata {
        let directory = uploadDirectory(record.uploadID)
        let temporary = makeTemporaryPath()
        do {
            try Self.append(from: parts.map { (directory + "/" + $0.dataFile, nil) }, to: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        let metadata: ObjectMetadata
        do {
            metadata = try commitObject(
                bucket: record.bucket,
                key: record.key,
                temporaryPath: temporary,
                size: parts.reduce(0) { $0 + $1.size },
                etag: MultipartCompletion.etag(of: parts),
                stored: StoredHeaders(
                    contentType: record.contentType,
                    headers: record.headers,
                    userMetadata: record.userMetadata
                ),
                now: now
            )
        } catch {
            unlink(temporary)
            throw error
        }
        try? abortUpload(record.uploadID)
        return metadata
    }

    /// The uploads in progress in a bucket, sorted by key then initiation time.
    func listUploads(bucket: String) throws -> [MultipartUploadRecord] {
        var records: [MultipartUploadRecord] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: uploadsDirectory) where UploadID.isValid(name) {
            if let record: MultipartUploadRecord = try? readJSON(uploadDirectory(name) + "/upload.json"),
                record.bucket == bucket
            {
                records.append(record)
            }
        }
        return records.sorted {
            $0.key == $1.key ? $0.initiated < $1.initiated : ListingPage.utf8Precedes($0.key, $1.key)
        }
    }

    // MARK: - JSON files

    /// Reads a JSON file; `nil` if it does not exist.
    private func readJSON<Value: Decodable>(_ path: String) throws -> Value? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try JSONDecoder().decode(Value.self, from: data)
    }

    /// Writes a JSON file atomically: to a temporary file first, then renamed over the destination.
    private func writeJSON<Value: Encodable>(_ value: Value, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        let temporary = makeTemporaryPath() + ".json"
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            let error = posixError("rename")
            unlink(temporary)
            throw error
        }
    }
}

/// The failure of a POSIX call, with the `errno` it left.
private func posixError(_ operation: String) -> FileStoreIOError {
    FileStoreIOError(operation: operation, code: errno)
}
