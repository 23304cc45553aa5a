import NIOHTTP1
import Verifier

/// The S3 operation a request asks for, decided from its method, target and a few headers alone.
///
/// Routing is pure so that it can be tested without a server; validation of names and keys happens
/// here too, before any file is touched.
enum StoreOperation: Sendable, Equatable {
    case listBuckets
    case createBucket(bucket: String)
    case deleteBucket(bucket: String)
    case headBucket(bucket: String)
    case getBucketLocation(bucket: String)
    case getBucketVersioning(bucket: String)
    case listObjectsV2(bucket: String)
    case listObjectsV1(bucket: String)
    case listMultipartUploads(bucket: String)
    case deleteObjects(bucket: String)
    case putObject(bucket: String, key: String)
    case copyObject(bucket: String, key: String, sourceBucket: String, sourceKey: String)
    case getObject(bucket: String, key: String)
    case headObject(bucket: String, key: String)
    case deleteObject(bucket: String, key: String)
    case createMultipartUpload(bucket: String, key: String)
    case uploadPart(bucket: String, key: String, uploadID: String, partNumber: Int)
    case uploadPartCopy(
        bucket: String,
        key: String,
        uploadID: String,
        partNumber: Int,
        sourceBucket: String,
        sourceKey: String
    )
    case listParts(bucket: String, key: String, uploadID: String)
    case completeMultipartUpload(bucket: String, key: String, uploadID: String)
    case abortMultipartUpload(bucket: String, key: String, uploadID: String)

    /// Subresources S3 has and this store does not; requests naming one are refused with `NotImplemented`.
    static let unsupportedSubresources = [
        "accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
        "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls", "policy",
        "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention", "select",
        "tagging", "torrent", "versions", "website",
    ]

    /// The longest key S3 accepts, in bytes of UTF-8.
    static let maximumKeyLength = 1024

    /// Routes a request; throws the S3 error to answer when no operation fits or a name is invalid.
    static func route(
        method: HTTPMethod,
        target: S3RequestTarget,
        headers: HTTPHeaders
    ) throws(DevStoreError) -> StoreOperation {
        guard let bucket = target.bucket else {
            guard method == .GET || method == .HEAD else { throw DevStoreError.methodNotAllowed }
            return .listBuckets
        }
        guard BucketName.isValid(bucket) else { throw DevStoreError.invalidBucketName }
        let query = target.query
        if let name = unsupportedSubresources.first(where: { query[$0] != nil }) {
            // Better a clear refusal than, say, a listing or the object's bytes where a client expects an ACL.
            throw DevStoreError(.notImplemented, "The \(name) subresource is not implemented by the development store.")
        }

        guard let key = target.key else {
            switch method {
            case .PUT: return .createBucket(bucket: bucket)
            case .DELETE: return .deleteBucket(bucket: bucket)
            case .HEAD: return .headBucket(bucket: bucket)
            case .POST:
                guard query["delete"] != nil else { throw DevStoreError.methodNotAllowed }
                return .deleteObjects(bucket: bucket)
            case .GET:
                if query["location"] != nil { return .getBucketLocation(bucket: bucket) }
                if query["versioning"] != nil { return .getBucketVersioning(bucket: bucket) }
                if query["uploads"] != nil { return .listMultipartUploads(bucket: bucket) }
                if query["list-type"] == "2" { return .listObjectsV2(bucket: bucket) }
                return .listObjectsV1(bucket: bucket)
            default:
                throw DevStoreError.methodNotAllowed
            }
        }

        guard key.utf8.count <= maximumKeyLength else { throw DevStoreError.keyTooLong }
        let uploadID = query["uploadId"]
        if let uploadID, !UploadID.isValid(uploadID) { throw DevStoreError.noSuchUpload }

        switch method {
        case .PUT:
            if let uploadID {
                guard let text = query["partNumber"], let partNumber = Int(text), (1...10_000).contains(partNumber)
                else {
                    throw DevStoreError(
                        .invalidArgument,
                        "Part number must be an integer between 1 and 10000, inclusive"
                    )
                }
                if let source = headers.first(name: "x-amz-copy-source") {
                    let (sourceBucket, sourceKey) = try parseCopySource(source)
                    return .uploadPartCopy(
                        bucket: bucket,
                        key: key,
                        uploadID: uploadID,
                        partNumber: partNumber,
                        sourceBucket: sourceBucket,
                        sourceKey: sourceKey
                    )
                }
                return .uploadPart(bucket: bucket, key: key, uploadID: uploadID, partNumber: partNumber)
            }
            if let source = headers.first(name: "x-amz-copy-source") {
                let (sourceBucket, sourceKey) = try parseCopySource(source)
                return .copyObject(bucket: bucket, key: key, sourceBucket: sourceBucket, sourceKey: sourceKey)
            }
            return .putObject(bucket: bucket, key: key)
        case .GET:
            if let uploadID { return .listParts(bucket: bucket, key: key, uploadID: uploadID) }
            return .getObject(bucket: bucket, key: key)
        case .HEAD:
            return .headObject(bucket: bucket, key: key)
        case .DELETE:
            if let uploadID { return .abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
            return .deleteObject(bucket: bucket, key: key)
        case .POST:
            if query["uploads"] != nil { return .createMultipartUpload(bucket: bucket, key: key) }
            if let uploadID { return .completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
            throw DevStoreError.methodNotAllowed
        default:
            throw DevStoreError.methodNotAllowed
        }
    }

    /// Parses `x-amz-copy-source`: URL-encoded `bucket/key` with an optional leading `/`.
    static func parseCopySource(_ header: String) throws(DevStoreError) -> (bucket: String, key: String) {
        var raw = Substring(header)
        if let question = raw.firstIndex(of: "?") {
            guard raw[question...].hasPrefix("?versionId=null") || raw[question...] == "?" else {
                throw DevStoreError(.invalidArgument, "Versioned copy sources are not supported.")
            }
            raw = raw[..<question]
        }
        if raw.first == "/" { raw = raw.dropFirst() }
        guard let decoded = URIEncoding.decode(raw), let slash = decoded.firstIndex(of: "/") else {
            throw DevStoreError(
                .invalidArgument,
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
            )
        }
        let bucket = String(decoded[..<slash])
        let key = String(decoded[decoded.index(after: slash)...])
        guard BucketName.isValid(bucket) else { throw DevStoreError.invalidBucketName }
        guard !key.isEmpty else {
            throw DevStoreError(
                .invalidArgument,
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey"
            )
        }
        guard key.utf8.count <= maximumKeyLength else { throw DevStoreError.keyTooLong }
        return (bucket, key)
    }
}
