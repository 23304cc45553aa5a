import NIOHTTP1
import Testing
import Verifier

@testable import DevStore

/// The store speaks S3 through Verifier's wire layer: one error type and renderer, one XML escape, one
/// percent-coding, one request-id source, one reading of `Expect` and `Content-Encoding`.
@Suite("S3 wire layer shared with Verifier")
struct WireLayerTests {
    @Test(
        "each canned store error answers with S3's status through the one status table",
        arguments: [
            (DevStoreError.noSuchBucket, 404), (.noSuchKey, 404), (.noSuchUpload, 404), (.bucketNotEmpty, 409),
            (.bucketAlreadyOwnedByYou, 409), (.invalidBucketName, 400), (.keyTooLong, 400), (.methodNotAllowed, 405),
            (.invalidPartOrder, 400), (.invalidPart, 400), (.entityTooSmall, 400), (.malformedXML, 400),
            (.incompleteBody, 400), (.internalError, 500), (DevStoreError(.invalidRange, "r"), 416),
            (DevStoreError(.preconditionFailed, "p"), 412), (DevStoreError(.notImplemented, "n"), 501),
            (DevStoreError(.maxMessageLengthExceeded, "m"), 400),
        ]
    )
    func statuses(error: DevStoreError, status: Int) {
        let response = S3Response.error(error, resource: "/b/k", requestID: "REQ")
        #expect(response.status == HTTPResponseStatus(statusCode: status))
        #expect(response.body == error.xmlBody(resource: "/b/k", requestId: "REQ"))
        #expect(response.body.contains("<Code>\(error.code.s3Code)</Code>") && !response.body.contains("xmlns"))
        #expect(response.headers["Content-Type"] == ["application/xml"])
    }

    @Test("an error body stays XML 1.0 (U+FFFD); a listed key keeps its control characters as references")
    func escapingPolicies() {
        let text = "a\u{1}b\rc\u{FFFE}<"
        #expect(XMLEscaping.escape(text) == "a\u{FFFD}b&#xD;c\u{FFFD}&lt;")
        #expect(XMLWriter.escape(text) == "a&#x1;b&#xD;c&#xFFFE;&lt;")
        let body = S3Response.error(
            DevStoreError(.invalidArgument, "bad \u{0} value"),
            resource: "/k\u{1}",
            requestID: "R"
        ).body
        #expect(
            body.contains("<Message>bad \u{FFFD} value</Message>") && body.contains("<Resource>/k\u{FFFD}</Resource>")
        )
        #expect(XMLElementScanner.unescape(XMLWriter.escape("k&\u{1}\r'\"<>")) == "k&\u{1}\r'\"<>")
    }

    @Test("percent-decoding refuses a malformed escape and bytes that are not UTF-8; + is a space only in a query")
    func percentDecoding() {
        #expect(URIEncoding.decode("a%2Fb%20c+d") == "a/b c+d")
        #expect(URIEncoding.decode("a+b%2B", plusAsSpace: true) == "a b+")
        #expect(
            URIEncoding.decode("%zz") == nil && URIEncoding.decode("abc%4") == nil && URIEncoding.decode("%FF") == nil
        )
        #expect(URIEncoding.decode("") == "" && URIEncoding.decode("%E6%97%A5") == "日")
    }

    @Test("percent-encoding keeps the unreserved characters, and / where asked")
    func percentEncoding() {
        #expect(URIEncoding.encode("a b/c~d_e.f-g+日", keepSlash: true) == "a%20b/c~d_e.f-g%2B%E6%97%A5")
        #expect(URIEncoding.encode("a/b", keepSlash: false) == "a%2Fb")
    }

    @Test("Expect: 100-continue and aws-chunked are read in any case; aws-chunked is dropped from the codings")
    func headerValues() {
        #expect(S3HeaderValues.expectsContinue(["100-Continue"]) && !S3HeaderValues.expectsContinue(["200-ok"]))
        #expect(S3HeaderValues.isAWSChunked(contentEncoding: ["gzip", "AWS-Chunked"]))
        #expect(!S3HeaderValues.isAWSChunked(contentEncoding: ["gzip"]))
        #expect(S3HeaderValues.withoutAWSChunked(contentEncoding: ["aws-chunked", "gzip"]) == ["gzip"])
        let stored = StoredHeaders(requestHeaders: [("Content-Encoding", "AWS-CHUNKED, gzip")])
        #expect(stored.headers["content-encoding"] == "gzip")
    }

    @Test("request ids are S3's form: 16 upper-case hex digits")
    func requestIDs() {
        let id = RequestID.make()
        #expect(id.count == 16 && id.allSatisfy { $0.isHexDigit && !$0.isLowercase })
    }
}
