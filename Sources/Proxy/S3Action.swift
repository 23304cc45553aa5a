import Verifier

/// The kinds of access a key's policy grants. Every S3 operation the proxy forwards maps to one of them.
public enum S3Action: String, Sendable, Hashable, CaseIterable, Codable {
    /// GetObject, HeadObject, an object's ACL/tagging reads, SelectObjectContent, RestoreObject, and the
    /// source of a CopyObject or UploadPartCopy.
    case read
    /// PutObject, CopyObject's destination, an object's or bucket's configuration writes, CreateBucket,
    /// browser form uploads (POST to a bucket).
    case write
    /// DeleteObject, DeleteObjects, DeleteBucket and configuration deletes.
    case delete
    /// ListBuckets, ListObjects (v1 and v2), ListObjectVersions, ListMultipartUploads, HeadBucket and
    /// every other bucket-level read.
    case list
    /// CreateMultipartUpload, UploadPart, UploadPartCopy, ListParts, CompleteMultipartUpload,
    /// AbortMultipartUpload.
    case multipart
}

extension S3Operation {
    /// Classifies a verified request (path-style addressing): its action, and for a copy its source.
    ///
    /// - Parameters:
    ///   - rawPath: The request path as received.
    ///   - queryNames: The decoded names of the query parameters (sub-resources such as `uploads`).
    ///   - listPrefix: The decoded `prefix` query parameter, if any.
    ///   - copySource: The `x-amz-copy-source` header, if any.
    init(
        accessKeyId: String,
        method: String,
        rawPath: Substring,
        queryNames: Set<String>,
        listPrefix: String?,
        copySource: String?
    ) {
        self.init(accessKeyId: accessKeyId, method: method, rawPath: rawPath)
        self.listPrefix = listPrefix
        let multipart = queryNames.contains("uploadId") || queryNames.contains("uploads") && key != nil
        switch (bucket, key) {
        case (nil, _):
            action = method == "GET" || method == "HEAD" ? .list : .write
        case (_, nil):
            switch method {
            case "GET", "HEAD": action = .list
            case "DELETE": action = .delete
            case "POST" where queryNames.contains("delete"):
                // DeleteObjects names its keys in the body, which the policy cannot see.
                action = .delete
                keysInBody = true
            default: action = .write
            }
        case (_, _):
            switch method {
            case _ where multipart: action = .multipart
            case "GET", "HEAD": action = .read
            case "DELETE": action = .delete
            case "POST" where queryNames.contains("restore") || queryNames.contains("select"): action = .read
            default: action = .write
            }
        }
        if let copySource, method == "PUT" {
            self.copySource = Self.parseCopySource(copySource)
        }
    }

    /// `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, percent-encoded.
    static func parseCopySource(_ header: String) -> (bucket: String, key: String)? {
        var value = Substring(header)
        if let q = value.firstIndex(of: "?") { value = value[..<q] }
        if value.hasPrefix("/") { value = value.dropFirst() }
        guard let slash = value.firstIndex(of: "/") else { return nil }
        let bucket = Self.decode(value[..<slash])
        let key = Self.decode(value[value.index(after: slash)...])
        guard !bucket.isEmpty, !key.isEmpty else { return nil }
        return (bucket, key)
    }
}

extension S3Operation {
    /// Classifies a verified request head for the policy check.
    init(accessKeyId: String, head: S3RequestHead) {
        let (path, rawQuery) = head.splitURI()
        let query = QueryParameters(rawQuery: rawQuery)
        let names = Set(query?.parameters.map { String(decoding: $0.name, as: UTF8.self) } ?? [])
        self.init(
            accessKeyId: accessKeyId,
            method: head.method,
            rawPath: path,
            queryNames: names,
            listPrefix: query?.value("prefix"),
            copySource: head.firstValue(of: "x-amz-copy-source")
        )
    }
}
