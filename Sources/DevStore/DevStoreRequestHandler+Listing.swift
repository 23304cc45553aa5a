import NIOHTTP1
import Verifier

extension DevStoreRequestHandler {
    /// ListBuckets.
    func listBuckets() async throws -> S3Response {
        let store = self.store
        let buckets = try await run { try store.listBuckets() }
        var writer = XMLWriter(root: "ListAllMyBucketsResult")
        writer.open("Owner")
        writer.element("ID", "devstore")
        writer.element("DisplayName", "devstore")
        writer.close("Owner")
        writer.open("Buckets")
        for bucket in buckets {
            writer.open("Bucket")
            writer.element("Name", bucket.name)
            writer.element("CreationDate", HTTPDates.iso8601(millisecondsSince1970: bucket.created))
            writer.close("Bucket")
        }
        writer.close("Buckets")
        return .xml(writer.finished(root: "ListAllMyBucketsResult"))
    }

    /// ListObjectsV2 (`list-type=2`) and ListObjects (v1).
    func listObjects(bucket: String, query: [String: String], version2: Bool) async throws -> S3Response {
        let prefix = query["prefix"] ?? ""
        let delimiter = query["delimiter"] ?? ""
        let maxKeys = try Self.maxKeys(query["max-keys"])
        let urlEncoded: Bool
        switch query["encoding-type"] {
        case nil: urlEncoded = false
        case "url": urlEncoded = true
        default: throw DevStoreError(.invalidArgument, "Invalid Encoding Method specified in Request")
        }
        let marker: String?
        if version2 {
            if let token = query["continuation-token"] {
                marker = try ListingPage.marker(fromContinuationToken: token)
            } else {
                marker = query["start-after"].flatMap { $0.isEmpty ? nil : $0 }
            }
        } else {
            marker = query["marker"].flatMap { $0.isEmpty ? nil : $0 }
        }

        let store = self.store
        let objects = try await run { try store.allObjects(bucket: bucket) }
        let page = ListingPage(objects: objects, prefix: prefix, delimiter: delimiter, marker: marker, maxKeys: maxKeys)
        func encoded(_ text: String) -> String { urlEncoded ? URIEncoding.encode(text, keepSlash: true) : text }

        var writer = XMLWriter(root: "ListBucketResult")
        writer.element("Name", bucket)
        writer.element("Prefix", encoded(prefix))
        if !delimiter.isEmpty { writer.element("Delimiter", encoded(delimiter)) }
        writer.element("MaxKeys", String(maxKeys))
        if urlEncoded { writer.element("EncodingType", "url") }
        if version2 {
            writer.element("KeyCount", String(page.contents.count + page.commonPrefixes.count))
            if let token = query["continuation-token"] { writer.element("ContinuationToken", token) }
            if let startAfter = query["start-after"] { writer.element("StartAfter", encoded(startAfter)) }
        } else {
            writer.element("Marker", encoded(query["marker"] ?? ""))
        }
        writer.element("IsTruncated", page.isTruncated ? "true" : "false")
        if page.isTruncated, let last = page.lastReturned {
            if version2 {
                writer.element("NextContinuationToken", ListingPage.continuationToken(for: last))
            } else {
                writer.element("NextMarker", encoded(last))
            }
        }
        for object in page.contents {
            writer.open("Contents")
            writer.element("Key", encoded(object.key))
            writer.element("LastModified", HTTPDates.iso8601(millisecondsSince1970: object.lastModified))
            writer.element("ETag", object.quotedETag)
            writer.element("Size", String(object.size))
            if !version2 {
                writer.open("Owner")
                writer.element("ID", "devstore")
                writer.element("DisplayName", "devstore")
                writer.close("Owner")
            }
            writer.element("StorageClass", "STANDARD")
            writer.close("Contents")
        }
        for commonPrefix in page.commonPrefixes {
            writer.open("CommonPrefixes")
            writer.element("Prefix", encoded(commonPrefix))
            writer.close("CommonPrefixes")
        }
        return .xml(writer.finished(root: "ListBucketResult"))
    }

    /// `max-keys`: 1000 by default and at most; `InvalidArgument` if not a non-negative integer.
    static func maxKeys(_ text: String?) throws(DevStoreError) -> Int {
        guard let text else { return 1000 }
        guard let value = Int(text), value >= 0 else {
            throw DevStoreError(.invalidArgument, "Provided max-keys not an integer or within integer range")
        }
        return min(value, 1000)
    }
}
