import NIOCore
import NIOHTTP1
import Testing

@testable import DevStore

@Suite("ByteRange resolution")
struct ByteRangeTests {
    @Test("the three single-range forms resolve against the size; invalid syntax means the whole object")
    func forms() {
        #expect(ByteRange.resolve(header: "bytes=0-4", size: 10) == .partial(ByteRange(first: 0, last: 4)))
        #expect(ByteRange.resolve(header: "bytes=5-", size: 10) == .partial(ByteRange(first: 5, last: 9)))
        #expect(ByteRange.resolve(header: "bytes=-3", size: 10) == .partial(ByteRange(first: 7, last: 9)))
        #expect(ByteRange.resolve(header: "bytes=-30", size: 10) == .partial(ByteRange(first: 0, last: 9)))
        #expect(ByteRange.resolve(header: "bytes=8-100", size: 10) == .partial(ByteRange(first: 8, last: 9)))
        #expect(ByteRange.resolve(header: "bytes=10-", size: 10) == .unsatisfiable)
        #expect(ByteRange.resolve(header: "bytes=-0", size: 10) == .unsatisfiable)
        #expect(ByteRange.resolve(header: "bytes=0-", size: 0) == .unsatisfiable)
        #expect(ByteRange.resolve(header: nil, size: 10) == .whole)
        #expect(ByteRange.resolve(header: "bytes=4-2", size: 10) == .whole)
        #expect(ByteRange.resolve(header: "bytes=0-1,4-5", size: 10) == .whole)
        #expect(ByteRange.resolve(header: "items=0-1", size: 10) == .whole)
        #expect(ByteRange.resolve(header: "bytes=+1-2", size: 10) == .whole)
    }
}

@Suite("Routing and request targets")
struct RoutingTests {
    private func route(_ method: HTTPMethod, _ target: String, _ headers: HTTPHeaders = [:]) throws -> StoreOperation {
        try StoreOperation.route(method: method, target: try S3RequestTarget.parse(target), headers: headers)
    }

    @Test("keys are percent-decoded once and never normalized")
    func keysAreOpaque() throws {
        #expect(try route(.GET, "/b-1/a/../b") == .getObject(bucket: "b-1", key: "a/../b"))
        #expect(try route(.GET, "/b-1//x") == .getObject(bucket: "b-1", key: "/x"))
        #expect(try route(.GET, "/b-1/a%2Fb%00c") == .getObject(bucket: "b-1", key: "a/b\u{0}c"))
        #expect(try route(.GET, "/b-1/a+b") == .getObject(bucket: "b-1", key: "a+b"))
        #expect(try route(.GET, "http://host:9000/b-1/k?x") == .getObject(bucket: "b-1", key: "k"))
    }

    @Test("each operation is picked from method, query and headers")
    func operations() throws {
        let upload = "0123456789abcdef0123456789abcdef"
        #expect(try route(.GET, "/") == .listBuckets)
        #expect(try route(.GET, "/b-1?list-type=2&prefix=a") == .listObjectsV2(bucket: "b-1"))
        #expect(try route(.GET, "/b-1") == .listObjectsV1(bucket: "b-1"))
        #expect(try route(.GET, "/b-1/") == .listObjectsV1(bucket: "b-1"))
        #expect(try route(.POST, "/b-1/k?uploads") == .createMultipartUpload(bucket: "b-1", key: "k"))
        #expect(
            try route(.PUT, "/b-1/k?partNumber=3&uploadId=\(upload)")
                == .uploadPart(bucket: "b-1", key: "k", uploadID: upload, partNumber: 3)
        )
        #expect(
            try route(.POST, "/b-1/k?uploadId=\(upload)")
                == .completeMultipartUpload(bucket: "b-1", key: "k", uploadID: upload)
        )
        #expect(
            try route(.DELETE, "/b-1/k?uploadId=\(upload)")
                == .abortMultipartUpload(bucket: "b-1", key: "k", uploadID: upload)
        )
        #expect(
            try route(.PUT, "/b-1/k", ["x-amz-copy-source": "/src-b/a%20b"])
                == .copyObject(bucket: "b-1", key: "k", sourceBucket: "src-b", sourceKey: "a b")
        )
        #expect(throws: DevStoreError.methodNotAllowed) { try route(.PATCH, "/b-1/k") }
        #expect(throws: DevStoreError.noSuchUpload) { try route(.GET, "/b-1/k?uploadId=..%2F..") }
        #expect(throws: DevStoreError.keyTooLong) { try route(.GET, "/b-1/" + String(repeating: "x", count: 1025)) }
        #expect(throws: DevStoreError.invalidBucketName) { try route(.GET, "/.devstore/k") }
    }

    @Test("bucket names follow S3's rules")
    func bucketNames() {
        for valid in ["abc", "my.bucket-1", "0ab", String(repeating: "a", count: 63)] {
            #expect(BucketName.isValid(valid), "\(valid)")
        }
        for invalid in ["ab", "ABC", "a_b", ".ab", "ab.", "a..b", "-ab", "10.0.0.1", "a/b", "é-bucket", ""] {
            #expect(!BucketName.isValid(invalid), "\(invalid)")
        }
    }
}

@Suite("Listing pages")
struct ListingPageTests {
    private func objects(_ keys: [String]) -> [ObjectMetadata] {
        keys.sorted(by: ListingPage.utf8Precedes).map {
            ObjectMetadata(
                key: $0,
                size: 0,
                etag: "",
                lastModified: 0,
                contentType: "",
                headers: [:],
                userMetadata: [:],
                dataFile: ""
            )
        }
    }

    @Test("a common prefix as marker skips every key under it")
    func prefixMarker() {
        let all = objects(["a/1", "a/2", "b/1", "c"])
        let first = ListingPage(objects: all, prefix: "", delimiter: "/", marker: nil, maxKeys: 1)
        #expect(first.commonPrefixes == ["a/"])
        #expect(first.isTruncated)
        let second = ListingPage(objects: all, prefix: "", delimiter: "/", marker: first.lastReturned, maxKeys: 1)
        #expect(second.commonPrefixes == ["b/"])
        let third = ListingPage(objects: all, prefix: "", delimiter: "/", marker: second.lastReturned, maxKeys: 1)
        #expect(third.contents.map(\.key) == ["c"])
        #expect(!third.isTruncated)
    }

    @Test("keys order by UTF-8 bytes, and canonically equivalent keys stay distinct")
    func byteOrder() {
        let composed = "\u{E9}"
        let decomposed = "e\u{301}"
        let page = ListingPage(
            objects: objects([composed, decomposed, "z", "Z"]),
            prefix: "",
            delimiter: "",
            marker: nil,
            maxKeys: 1000
        )
        #expect(
            page.contents.map { Array($0.key.utf8) } == [
                Array("Z".utf8), Array("e\u{301}".utf8), Array("z".utf8), Array("\u{E9}".utf8),
            ]
        )
    }

    @Test("continuation tokens round-trip any key, and foreign tokens are refused")
    func tokens() throws {
        for marker in ["a/b", "\u{0}", "日本", "a+b c"] {
            #expect(try ListingPage.marker(fromContinuationToken: ListingPage.continuationToken(for: marker)) == marker)
        }
        #expect(throws: DevStoreError.self) { try ListingPage.marker(fromContinuationToken: "xyz") }
    }
}

@Suite("Multipart completion")
struct MultipartCompletionTests {
    @Test("the part list is read from the XML boto3 sends, with namespaces and checksums")
    func parse() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>&quot;aa&quot;</ETag>\
            <ChecksumCRC32>AAAAAA==</ChecksumCRC32><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber>\
            <ETag>"bb"</ETag></Part></CompleteMultipartUpload>
            """
        #expect(
            try MultipartCompletion.parse(xml) == [
                .init(partNumber: 1, etag: "\"aa\""), .init(partNumber: 2, etag: "\"bb\""),
            ]
        )
        #expect(throws: DevStoreError.malformedXML) {
            try MultipartCompletion.parse("<CompleteMultipartUpload></CompleteMultipartUpload>")
        }
        #expect(throws: DevStoreError.malformedXML) { try MultipartCompletion.parse("<CompleteMultipartUpload><Part>") }
    }

    @Test("validation: order, ETags, minimum size")
    func validate() throws {
        func part(_ number: Int, _ size: Int64) -> PartRecord {
            PartRecord(partNumber: number, size: size, etag: "e\(number)", lastModified: 0, dataFile: "")
        }
        let uploaded = [1: part(1, 10), 2: part(2, 10), 3: part(3, 1)]
        let request: (Int, String) -> MultipartCompletion.RequestedPart = { .init(partNumber: $0, etag: $1) }
        #expect(
            try MultipartCompletion.validate(
                requested: [request(1, "\"e1\""), request(3, "E3")],
                uploaded: uploaded,
                minimumPartSize: 10
            ).count == 2
        )
        #expect(throws: DevStoreError.invalidPartOrder) {
            try MultipartCompletion.validate(
                requested: [request(2, "e2"), request(1, "e1")],
                uploaded: uploaded,
                minimumPartSize: 1
            )
        }
        #expect(throws: DevStoreError.invalidPart) {
            try MultipartCompletion.validate(requested: [request(1, "e2")], uploaded: uploaded, minimumPartSize: 1)
        }
        #expect(throws: DevStoreError.entityTooSmall) {
            try MultipartCompletion.validate(
                requested: [request(3, "e3"), request(4, "e4")],
                uploaded: uploaded.merging([4: part(4, 5)]) { $1 },
                minimumPartSize: 2
            )
        }
    }
}

@Suite("XML")
struct XMLTests {
    @Test("text is escaped for XML 1.0, control characters as references")
    func escape() {
        #expect(XMLWriter.escape("a&b<c>\"'\u{0}\u{1F}") == "a&amp;b&lt;c&gt;&quot;&apos;&#x0;&#x1F;")
        #expect(XMLElementScanner.unescape("&#x0;&lt;&#65;") == "\u{0}<A")
    }
}

@Suite("Conditional requests")
struct ConditionalRequestTests {
    @Test("HTTP dates parse to the same instant they were formatted from")
    func httpDates() {
        for ms: Int64 in [0, 784_111_777_000, 1_700_000_000_000, 4_102_444_800_000] {
            #expect(ConditionalRequest.parseHTTPDate(HTTPDates.httpDate(millisecondsSince1970: ms)) == ms / 1000)
        }
        #expect(ConditionalRequest.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(ConditionalRequest.parseHTTPDate("yesterday") == nil)
    }

    @Test("If-Match wins over If-Unmodified-Since, If-None-Match over If-Modified-Since")
    func precedence() {
        let etag = "\"abc\""
        func evaluate(_ ifMatch: String?, _ ifNoneMatch: String?, _ ims: String?, _ ius: String?) -> ConditionalRequest
        {
            ConditionalRequest.evaluate(
                ifMatch: ifMatch,
                ifNoneMatch: ifNoneMatch,
                ifModifiedSince: ims,
                ifUnmodifiedSince: ius,
                quotedETag: etag,
                lastModifiedMilliseconds: 1_000_000
            )
        }
        let old = "Thu, 01 Jan 1970 00:00:00 GMT"
        #expect(evaluate("abc", nil, nil, old) == .proceed)
        #expect(evaluate("\"x\", \"abc\"", nil, nil, nil) == .proceed)
        #expect(evaluate("*", nil, nil, nil) == .proceed)
        #expect(evaluate("x", nil, nil, nil) == .preconditionFailed)
        #expect(evaluate(nil, nil, nil, old) == .preconditionFailed)
        #expect(evaluate(nil, "W/\"abc\"", nil, nil) == .notModified)
        #expect(evaluate(nil, "\"x\"", "Fri, 01 Jan 2100 00:00:00 GMT", nil) == .proceed)
        #expect(evaluate(nil, nil, "Fri, 01 Jan 2100 00:00:00 GMT", nil) == .notModified)
    }
}
