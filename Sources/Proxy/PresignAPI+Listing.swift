import Foundation
import NIOHTTP1
import Verifier

#if canImport(FoundationXML)
import FoundationXML
#endif

extension PresignAPI {
    /// A listing request that passed every check: what to ask the upstream, and as whom.
    struct ListingPlan {
        var bucket: String
        var prefix: String
        var credential: Credential
        /// The ListObjectsV2 request target.
        var upstreamURI: String
    }

    /// What to do with a listing request: ask the upstream, or answer at once.
    enum ListingStep {
        case fetch(ListingPlan)
        case answer(PresignAPIResponse)
    }

    /// `GET …/buckets/{bucket}/objects?prefix=&cursor=&limit=`: the checks, and the upstream request to make.
    func planListing(
        bucket: String,
        presentedKey: String?,
        rawQuery: Substring,
        requestId: String
    ) -> ListingStep {
        do throws(Failure) {
            let (_, credential) = try authenticate(presentedKey)
            guard let query = QueryParameters(rawQuery: rawQuery) else {
                throw Failure.validation("query", "the query string holds a malformed percent-escape")
            }
            try Self.validateBucket(bucket)
            let prefix = query.value("prefix") ?? ""
            guard prefix.utf8.count <= 1024 else {
                throw Failure.validation("prefix", "prefix must be at most 1024 bytes of UTF-8")
            }
            let cursor = query.value("cursor")
            if let cursor, cursor.isEmpty { throw Failure.validation("cursor", "cursor must not be empty") }
            var limit = configuration.defaultListLimit
            if let text = query.value("limit") {
                guard let value = Int(text), (1...configuration.maxListLimit).contains(value) else {
                    throw Failure.validation(
                        "limit",
                        "limit must be an integer from 1 to \(configuration.maxListLimit)"
                    )
                }
                limit = value
            }
            try authorize(
                S3Operation(
                    accessKeyId: credential.accessKeyId,
                    method: "GET",
                    bucket: bucket,
                    key: nil,
                    action: .list,
                    listPrefix: prefix
                ),
                what: "list \(bucket)/\(prefix)"
            )
            var uri = "/\(PresignedURL.encode(bucket))?list-type=2&max-keys=\(limit)"
            if !prefix.isEmpty { uri += "&prefix=\(PresignedURL.encode(prefix))" }
            if let cursor { uri += "&continuation-token=\(PresignedURL.encode(cursor))" }
            return .fetch(ListingPlan(bucket: bucket, prefix: prefix, credential: credential, upstreamURI: uri))
        } catch {
            return .answer(.failure(error, requestId: requestId, nowMillis: clock()))
        }
    }

    struct ListedObject: Encodable, Equatable {
        var key: String
        var size: Int64
        var lastModified: String
        var etag: String
    }

    private struct ListingData: Encodable {
        var bucket: String
        var prefix: String
        var objects: [ListedObject]
        var isTruncated: Bool
        var nextCursor: String?

        func encode(to encoder: any Encoder) throws {
            enum Keys: String, CodingKey { case bucket, prefix, objects, isTruncated, nextCursor }
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(bucket, forKey: .bucket)
            try container.encode(prefix, forKey: .prefix)
            try container.encode(objects, forKey: .objects)
            try container.encode(isTruncated, forKey: .isTruncated)
            // Always present, null on the last page: clients loop `while nextCursor`.
            try container.encode(nextCursor, forKey: .nextCursor)
        }
    }

    /// The envelope for the upstream's answer to a listing.
    func listingResponse(
        _ plan: ListingPlan,
        status: HTTPResponseStatus,
        body: [UInt8],
        requestId: String
    ) -> PresignAPIResponse {
        let nowMillis = clock()
        guard status.code / 100 == 2 else {
            let error = S3ErrorBodyParser.parse(body)
            let failure: Failure
            if error.code == "NoSuchBucket" || status == .notFound && error.code == nil {
                failure = Failure(code: .notFound, message: "bucket \(plan.bucket) does not exist")
            } else {
                failure = Failure(
                    code: .upstream,
                    message: "the storage backend answered \(status.code) \(error.code ?? "")"
                        + (error.message.map { ": \($0)" } ?? "")
                )
            }
            return .failure(failure, requestId: requestId, nowMillis: nowMillis)
        }
        guard let result = ListBucketResultParser.parse(body) else {
            return .failure(
                Failure(code: .upstream, message: "the storage backend sent a listing that is not ListObjectsV2 XML"),
                requestId: requestId,
                nowMillis: nowMillis
            )
        }
        let data = ListingData(
            bucket: plan.bucket,
            prefix: plan.prefix,
            objects: result.objects,
            isTruncated: result.isTruncated,
            nextCursor: result.isTruncated ? result.nextContinuationToken : nil
        )
        return .success(data, requestId: requestId, nowMillis: nowMillis)
    }

    /// The envelope when the upstream could not be asked at all.
    func listingUnavailable(_ error: UpstreamError, requestId: String) -> PresignAPIResponse {
        .failure(
            // The S3-side wording only: `error` can carry the upstream's address and TLS details (logged).
            Failure(code: .upstream, message: "the storage backend is unavailable: \(error.s3Error.message)"),
            requestId: requestId,
            nowMillis: clock()
        )
    }
}

// MARK: - XML

/// Reads a ListObjectsV2 result (`ListBucketResult`) with Foundation's XMLParser.
final class ListBucketResultParser: NSObject, XMLParserDelegate {
    struct Result {
        var objects: [PresignAPI.ListedObject] = []
        var isTruncated = false
        var nextContinuationToken: String?
    }

    private var result = Result()
    private var sawRoot = false
    private var inContents = false
    private var current = PresignAPI.ListedObject(key: "", size: 0, lastModified: "", etag: "")
    private var text = ""

    static func parse(_ body: [UInt8]) -> Result? {
        let delegate = ListBucketResultParser()
        let parser = XMLParser(data: Data(body))
        parser.delegate = delegate
        guard parser.parse(), delegate.sawRoot else { return nil }
        return delegate.result
    }

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if elementName == "ListBucketResult" { sawRoot = true }
        if elementName == "Contents" {
            inContents = true
            current = PresignAPI.ListedObject(key: "", size: 0, lastModified: "", etag: "")
        }
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        if inContents {
            switch elementName {
            case "Key": current.key = text
            case "Size": current.size = Int64(text) ?? 0
            case "LastModified": current.lastModified = text
            case "ETag": current.etag = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            case "Contents":
                inContents = false
                result.objects.append(current)
            default: break
            }
        } else {
            switch elementName {
            case "IsTruncated": result.isTruncated = text == "true"
            case "NextContinuationToken": result.nextContinuationToken = text
            default: break
            }
        }
        text = ""
    }
}

/// Reads `<Error><Code>…</Code><Message>…</Message></Error>` from an upstream error body.
final class S3ErrorBodyParser: NSObject, XMLParserDelegate {
    private var code: String?
    private var message: String?
    private var depth = 0
    private var text = ""

    static func parse(_ body: [UInt8]) -> (code: String?, message: String?) {
        let delegate = S3ErrorBodyParser()
        let parser = XMLParser(data: Data(body))
        parser.delegate = delegate
        _ = parser.parse()
        return (delegate.code, delegate.message)
    }

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        depth += 1
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        if depth == 2 {
            if elementName == "Code" { code = text }
            if elementName == "Message" { message = text }
        }
        depth -= 1
        text = ""
    }
}
