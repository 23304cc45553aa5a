import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

/// Browser form uploads through `ProxyHandler`: what goes upstream, what the client gets, and that the
/// upstream never gets a complete request when the form fails.
@Suite("Form uploads (POST Object) on EmbeddedChannel")
struct PostObjectUploadTests {
    static let boundary = MultipartFormParserTests.boundary
    static let signer = TestSigner()

    static func form(
        key: String = "uploads/photo.jpg",
        keyIsPrefix: Bool = false,
        contentType: String? = "image/jpeg",
        maxSize: Int64? = 1000,
        minSize: Int64 = 0,
        expiresIn: Int64 = 600,
        now: Int64 = TestSigner.now
    ) -> [(String, String)] {
        PostForm.mint(
            bucket: "bucket",
            key: key,
            keyIsPrefix: keyIsPrefix,
            contentType: contentType,
            maxSize: maxSize,
            minSize: minSize,
            expiresIn: expiresIn,
            credential: Credential(accessKeyId: signer.accessKeyId, secretAccessKey: signer.secretAccessKey),
            region: signer.region,
            now: now
        ).fields.map { ($0.name, $0.value) }
    }

    static let file: [UInt8] = Array("hello\r\n--\(boundary.prefix(4)) file\r".utf8)

    static func body(
        _ fields: [(String, String)],
        file: [UInt8]? = file,
        filename: String = "photo.jpg",
        after: [(String, String)] = []
    ) -> [UInt8] {
        MultipartFormParserTests.body(fields: fields, file: file, filename: filename, after: after)
    }

    /// Sends a form upload head and body in `pieces`, then `.end`.
    static func post(
        _ proxy: EmbeddedProxy,
        _ body: [UInt8],
        chunked: Bool = false,
        pieces: [[UInt8]]? = nil,
        end: Bool = true
    ) throws {
        var headers: [(name: String, value: String)] = [
            ("Host", "s3.local"), ("Content-Type", "multipart/form-data; boundary=\(boundary)"),
        ]
        headers.append(chunked ? ("Transfer-Encoding", "chunked") : ("Content-Length", String(body.count)))
        try proxy.send(.POST, "/bucket", headers: headers)
        for piece in pieces ?? [body] {
            try proxy.client.writeInbound(HTTPServerRequestPart.body(ByteBuffer(bytes: piece)))
        }
        if end { try proxy.sendEnd() }
    }

    static func upstreamAnswers(_ proxy: EmbeddedProxy, etag: String = "\"abc\"") throws {
        let headers = HTTPHeaders([("Content-Length", "0"), ("ETag", etag)])
        try proxy.upstreams.upstream.writeInbound(
            HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))
        )
        try proxy.upstreams.upstream.writeInbound(HTTPClientResponsePart.end(nil))
    }

    static func head(_ parts: [HTTPServerResponsePart]) -> HTTPResponseHead? {
        parts.compactMap { if case .head(let h) = $0 { h } else { nil } }.first
    }

    /// The request went nowhere, or was aborted before it was complete.
    static func expectNothingStored(_ proxy: EmbeddedProxy) throws {
        if proxy.upstreams.acquired.isEmpty { return }
        #expect(try !proxy.upstreams.upstreamParts().hasEnd, "the upstream request was completed")
        #expect(proxy.upstreams.released == [false], "the upstream connection was not aborted")
        #expect(!proxy.upstreams.upstream.isActive)
    }

    static func refusal(_ proxy: EmbeddedProxy) throws -> (status: UInt, code: String, message: String) {
        let parts = try proxy.responseParts()
        let text = parts.bodyText
        func element(_ name: String) -> String {
            guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>") else { return "" }
            return String(text[start.upperBound..<end.lowerBound])
                .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                .replacingOccurrences(of: "&amp;", with: "&")
        }
        return (parts.statuses.first ?? 0, element("Code"), element("Message"))
    }

    // MARK: - Success

    @Test("the file streams upstream as a signed PUT of the key with its Content-Type and metadata; 204 back")
    func passthroughUpload() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form()
        fields.insert(("x-amz-meta-owner", "ann"), at: 1)
        // Cover the metadata field with a policy of its own: re-mint with it in the conditions.
        fields = Self.withExtraCondition(fields, ["eq", "$x-amz-meta-owner", "ann"])
        try Self.post(proxy, Self.body(fields))
        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("nothing upstream")
            return
        }
        #expect(head.method == .PUT)
        #expect(head.uri == "/bucket/uploads/photo.jpg")
        #expect(head.headers.first(name: "content-length") == String(Self.file.count))
        #expect(head.headers.first(name: "content-type") == "image/jpeg")
        #expect(head.headers.first(name: "x-amz-meta-owner") == "ann")
        #expect(head.headers.first(name: "x-amz-content-sha256") == "UNSIGNED-PAYLOAD")
        #expect(head.headers.first(name: "authorization")?.contains("Credential=AKIDEXAMPLE/") == true)
        #expect(Array(up.bodyText.utf8) == Self.file)
        #expect(up.hasEnd)

        // The signature is one the backend (sharing the key) accepts.
        let s3Head = S3RequestHead(method: "PUT", uri: head.uri, headers: head.headers.map { ($0.name, $0.value) })
        #expect(throws: Never.self) { _ = try Self.signer.verifier.authenticate(s3Head, now: TestSigner.now) }

        try Self.upstreamAnswers(proxy)
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [204])
        #expect(Self.head(parts)?.headers.first(name: "etag") == "\"abc\"")
        #expect(Self.head(parts)?.headers.first(name: "location") == "http://s3.local/bucket/uploads/photo.jpg")
        #expect(proxy.upstreams.released == [true])
    }

    /// Re-signs `fields` with one more condition, keeping everything else.
    static func withExtraCondition(_ fields: [(String, String)], _ condition: [Any]) -> [(String, String)] {
        var fields = fields
        let index = fields.firstIndex { $0.0 == "policy" }!
        let json = try! JSONSerialization.jsonObject(with: Data(base64Encoded: fields[index].1)!) as! [String: Any]
        var conditions = json["conditions"] as! [Any]
        conditions.append(condition)
        let data = try! JSONSerialization.data(
            withJSONObject: ["expiration": json["expiration"]!, "conditions": conditions],
            options: [.sortedKeys]
        )
        let policy = data.base64EncodedString()
        fields[index].1 = policy
        let date = fields.first { $0.0 == "x-amz-date" }!.1
        let key = SigningKey(
            secretAccessKey: signer.secretAccessKey,
            date: String(date.prefix(8)),
            region: "us-east-1",
            service: "s3"
        )
        let s = fields.firstIndex { $0.0 == "x-amz-signature" }!
        fields[s].1 = key.signatureHex(Array(policy.utf8))
        return fields
    }

    @Test("the same upload succeeds whichever offset the body is split at")
    func everySplit() throws {
        let body = Self.body(Self.form())
        for split in stride(from: 1, to: body.count, by: 1) {
            let proxy = try EmbeddedProxy()
            try Self.post(proxy, body, pieces: [Array(body[..<split]), Array(body[split...])])
            let up = try proxy.upstreams.upstreamParts()
            #expect(Array(up.bodyText.utf8) == Self.file, "split at \(split)")
            #expect(up.hasEnd, "split at \(split)")
        }
    }

    @Test("Expect: 100-continue is answered at once: the form's authentication is in the body")
    func expectContinue() throws {
        let proxy = try EmbeddedProxy()
        let body = Self.body(Self.form())
        try proxy.send(
            .POST,
            "/bucket",
            headers: [
                ("Host", "s3.local"), ("Content-Type", "multipart/form-data; boundary=\(Self.boundary)"),
                ("Content-Length", String(body.count)), ("Expect", "100-continue"),
            ]
        )
        #expect(try proxy.responseParts().statuses == [100])
        #expect(proxy.upstreams.acquireCalls == 0)
        try proxy.client.writeInbound(HTTPServerRequestPart.body(ByteBuffer(bytes: body)))
        try proxy.sendEnd()
        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("nothing reached the upstream")
            return
        }
        #expect(!head.headers.contains(name: "expect"))
        #expect(up.hasEnd)
        try Self.upstreamAnswers(proxy)
        #expect(try proxy.responseParts().statuses == [204])
    }

    @Test("a chunked request goes upstream chunked, with the whole file")
    func chunkedRequest() throws {
        let proxy = try EmbeddedProxy()
        let body = Self.body(Self.form())
        try Self.post(proxy, body, chunked: true, pieces: body.map { [$0] })
        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("nothing reached the upstream")
            return
        }
        #expect(head.headers.first(name: "transfer-encoding") == "chunked")
        #expect(!head.headers.contains(name: "content-length"))
        #expect(Array(up.bodyText.utf8) == Self.file)
        #expect(up.hasEnd)
    }

    @Test("${filename} under a starts-with prefix names the key")
    func filenameSubstitution() throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form(key: "uploads/", keyIsPrefix: true)))
        guard case .head(let head) = try proxy.upstreams.upstreamParts().first else {
            Issue.record("nothing reached the upstream")
            return
        }
        #expect(head.uri == "/bucket/uploads/photo.jpg")
    }

    @Test("success_action_status 201 answers with S3's PostResponse XML")
    func status201() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form()
        fields.insert(("success_action_status", "201"), at: 1)
        fields = Self.withExtraCondition(fields, ["eq", "$success_action_status", "201"])
        try Self.post(proxy, Self.body(fields))
        _ = try proxy.upstreams.upstreamParts()
        try Self.upstreamAnswers(proxy)
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [201])
        #expect(parts.bodyText.contains("<Bucket>bucket</Bucket><Key>uploads/photo.jpg</Key><ETag>&quot;abc&quot;</ETag>"))
        #expect(parts.bodyText.contains("<Location>http://s3.local/bucket/uploads/photo.jpg</Location>"))
    }

    @Test("success_action_redirect answers 303 with bucket, key and etag appended")
    func redirect() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form()
        fields.insert(("success_action_redirect", "https://app.example/done?x=1"), at: 1)
        fields = Self.withExtraCondition(fields, ["starts-with", "$success_action_redirect", "https://app.example/"])
        try Self.post(proxy, Self.body(fields))
        _ = try proxy.upstreams.upstreamParts()
        try Self.upstreamAnswers(proxy)
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [303])
        #expect(
            Self.head(parts)?.headers.first(name: "location")
                == "https://app.example/done?x=1&bucket=bucket&key=uploads%2Fphoto.jpg&etag=%22abc%22"
        )
    }

    @Test("trusted mode names the key; resign mode signs with the backend's key")
    func otherModes() throws {
        let trusted = try EmbeddedProxy(mode: .trusted)
        try Self.post(trusted, Self.body(Self.form()))
        guard case .head(let head) = try trusted.upstreams.upstreamParts().first else {
            Issue.record("nothing reached the upstream")
            return
        }
        #expect(head.headers.first(name: "x-sidecar-access-key") == "AKIDEXAMPLE")
        #expect(!head.headers.contains(name: "authorization"))

        let backend = UpstreamCredentials(accessKeyId: "BACKENDKEY", secretAccessKey: "backendsecret", region: "us-east-1")
        let resign = try EmbeddedProxy(mode: .resign(backend))
        try Self.post(resign, Self.body(Self.form()))
        guard case .head(let head2) = try resign.upstreams.upstreamParts().first else {
            Issue.record("nothing reached the upstream")
            return
        }
        #expect(head2.headers.first(name: "authorization")?.contains("Credential=BACKENDKEY/") == true)
    }

    @Test("an upstream error goes to the client unchanged")
    func upstreamError() throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form()))
        _ = try proxy.upstreams.upstreamParts()
        let xml = "<Error><Code>NoSuchBucket</Code></Error>"
        try proxy.upstreams.upstream.writeInbound(
            HTTPClientResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .notFound, headers: ["Content-Length": "\(xml.utf8.count)"])
            )
        )
        try proxy.upstreams.upstream.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: xml)))
        try proxy.upstreams.upstream.writeInbound(HTTPClientResponsePart.end(nil))
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [404])
        #expect(parts.bodyText == xml)
    }

    // MARK: - Refusals: the upstream gets nothing

    @Test("a file larger than content-length-range is refused before anything goes upstream")
    func oversizeDeclared() throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form(maxSize: 5)))
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code) == (400, "EntityTooLarge"))
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("a chunked file that grows past content-length-range aborts the upstream mid-stream")
    func oversizeStreaming() throws {
        let proxy = try EmbeddedProxy()
        let big = [UInt8](repeating: 65, count: 3000)
        let body = Self.body(Self.form(maxSize: 1000), file: big)
        try Self.post(proxy, body, chunked: true, pieces: stride(from: 0, to: body.count, by: 500).map {
            Array(body[$0..<min($0 + 500, body.count)])
        })
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code) == (400, "EntityTooLarge"))
        #expect(proxy.upstreams.acquireCalls == 1)
        try Self.expectNothingStored(proxy)
    }

    @Test("a file smaller than content-length-range is refused")
    func undersize() throws {
        let declared = try EmbeddedProxy()
        try Self.post(declared, Self.body(Self.form(minSize: 100)))
        #expect(try Self.refusal(declared).code == "EntityTooSmall")
        #expect(declared.upstreams.acquireCalls == 0)

        let chunked = try EmbeddedProxy()
        try Self.post(chunked, Self.body(Self.form(minSize: 100)), chunked: true)
        #expect(try Self.refusal(chunked).code == "EntityTooSmall")
        try Self.expectNothingStored(chunked)
    }

    @Test("a field the policy does not cover is refused")
    func uncoveredField() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form()
        fields.insert(("x-amz-meta-owner", "mallory"), at: 1)
        try Self.post(proxy, Self.body(fields))
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code) == (403, "AccessDenied"))
        #expect(refusal.message == "Invalid according to Policy: Extra input fields: x-amz-meta-owner")
        try Self.expectNothingStored(proxy)
    }

    @Test("a failed condition is refused with S3's message")
    func conditionFailed() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form()
        let index = fields.firstIndex { $0.0 == "Content-Type" }!
        fields[index].1 = "text/html"
        try Self.post(proxy, Self.body(fields))
        let refusal = try Self.refusal(proxy)
        #expect(refusal.code == "AccessDenied")
        #expect(refusal.message.hasPrefix("Invalid according to Policy: Policy Condition failed: [\"eq\", \"$Content-Type\""))
        try Self.expectNothingStored(proxy)
    }

    @Test("an expired policy is refused")
    func expired() throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form(expiresIn: 60, now: TestSigner.now - 3600)))
        let refusal = try Self.refusal(proxy)
        #expect(refusal.code == "AccessDenied")
        #expect(refusal.message == "Invalid according to Policy: Policy expired.")
        try Self.expectNothingStored(proxy)
    }

    @Test("a forged signature is refused")
    func forgedSignature() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form()
        let index = fields.firstIndex { $0.0 == "x-amz-signature" }!
        fields[index].1 = String(repeating: "0", count: 64)
        try Self.post(proxy, Self.body(fields))
        #expect(try Self.refusal(proxy).code == "SignatureDoesNotMatch")
        try Self.expectNothingStored(proxy)
    }

    @Test("a file before the fields is refused as S3 does")
    func fileFirst() throws {
        let proxy = try EmbeddedProxy()
        let body = Self.body([], file: Self.file, after: Self.form())
        try Self.post(proxy, body)
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code) == (400, "InvalidArgument"))
        #expect(refusal.message.contains("must contain a field named 'key'"))
        try Self.expectNothingStored(proxy)
    }

    @Test("a form without a file is refused")
    func missingFile() throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form(), file: nil))
        let refusal = try Self.refusal(proxy)
        #expect(refusal.code == "InvalidArgument")
        #expect(refusal.message == "POST requires exactly one file upload per request.")
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("fields beyond 20 KB are refused without waiting for the rest")
    func fieldsTooLarge() throws {
        let proxy = try EmbeddedProxy()
        let body = Self.body([("x-ignore-padding", String(repeating: "p", count: 30_000))] + Self.form())
        try Self.post(proxy, body, pieces: [Array(body.prefix(25_000))], end: false)
        #expect(try Self.refusal(proxy).code == "MalformedPOSTRequest")
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("with a Content-Length, a field after the file makes the size wrong: the upstream is aborted")
    func fieldAfterFileWithLength() throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form(), after: [("x-ignore-late", "1")]))
        #expect(try Self.refusal(proxy).code == "MalformedPOSTRequest")
        try Self.expectNothingStored(proxy)
    }

    @Test("a broken closing delimiter after a full-size file: the last piece never reaches the upstream")
    func lastPieceHeldBack() throws {
        let proxy = try EmbeddedProxy()
        let file = [UInt8](repeating: 66, count: 600)
        var body = Self.body(Self.form(), file: file)
        // Same length, so the upstream Content-Length is the file's size, but not a closing delimiter.
        body.replaceSubrange((body.count - 4)..<(body.count - 2), with: Array("XX".utf8))
        let fileStart = body.count - file.count - ("\r\n--\(Self.boundary)--\r\n").utf8.count
        let pieces = [
            Array(body[..<(fileStart + 200)]), Array(body[(fileStart + 200)..<(fileStart + 400)]),
            Array(body[(fileStart + 400)...]),
        ]
        try Self.post(proxy, body, pieces: pieces)
        #expect(try Self.refusal(proxy).code == "MalformedPOSTRequest")
        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("nothing upstream")
            return
        }
        #expect(head.headers.first(name: "content-length") == "600")
        // The first 200 streamed ahead; the piece held back completes nothing.
        #expect(up.bodyText.utf8.count == 200, "more than the pieces before the last went upstream")
        try Self.expectNothingStored(proxy)
    }

    @Test("a truncated body never completes the upstream request")
    func clientDisconnects() throws {
        let proxy = try EmbeddedProxy()
        let body = Self.body(Self.form())
        try Self.post(proxy, body, pieces: [Array(body.dropLast(10))], end: false)
        #expect(proxy.upstreams.acquireCalls == 1)
        #expect(try !proxy.upstreams.upstreamParts().hasEnd)
        proxy.client.pipeline.fireChannelInactive()
        #expect(proxy.upstreams.released == [false])
    }

    @Test("a body that ends before the closing delimiter is refused and the upstream aborted")
    func incompleteBody() throws {
        let proxy = try EmbeddedProxy()
        let body = Self.body(Self.form())
        try Self.post(proxy, body, chunked: true, pieces: [Array(body.dropLast(10))])
        #expect(try Self.refusal(proxy).status == 400)
        try Self.expectNothingStored(proxy)
    }

    @Test("the key's access policy applies to the resulting key")
    func accessPolicy() throws {
        let policy = AccessPolicy(grants: [.init(bucket: "bucket", prefix: "public/", actions: [.write])])
        let proxy = try EmbeddedProxy(authorizer: AccessPolicyAuthorizer(policies: ["AKIDEXAMPLE": policy]))
        try Self.post(proxy, Self.body(Self.form()))
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code, refusal.message) == (403, "AccessDenied", "Access Denied"))
        #expect(proxy.upstreams.acquireCalls == 0)

        let allowed = try EmbeddedProxy(authorizer: AccessPolicyAuthorizer(policies: ["AKIDEXAMPLE": policy]))
        try Self.post(allowed, Self.body(Self.form(key: "public/a.jpg")))
        #expect(try allowed.upstreams.upstreamParts().hasEnd)
    }

    @Test(
        "a key with a . or .. segment is refused, even under a full grant: it would leave the policy's prefix",
        arguments: ["../../other/x", "./x", "a/../../x", ".."]
    )
    func dotSegmentFilename(filename: String) throws {
        let proxy = try EmbeddedProxy()
        try Self.post(proxy, Self.body(Self.form(key: "uploads/", keyIsPrefix: true), filename: filename))
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code) == (400, "InvalidArgument"))
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("a field value no header may carry (CR LF) is a 400 before anything goes upstream, not a 502")
    func headerUnsafeField() throws {
        let proxy = try EmbeddedProxy()
        var fields = Self.form(contentType: nil)
        fields.insert(("Content-Type", "image/png\r\nX-Injected: 1"), at: 1)
        fields = Self.withExtraCondition(fields, ["starts-with", "$Content-Type", "image/"])
        try Self.post(proxy, Self.body(fields))
        let refusal = try Self.refusal(proxy)
        #expect((refusal.status, refusal.code) == (400, "InvalidArgument"))
        #expect(proxy.upstreams.acquireCalls == 0)
        #expect(PostObjectUpload.isHeaderSafe(name: "x-amz-meta-owner", value: "alice"))
        #expect(!PostObjectUpload.isHeaderSafe(name: "x-amz-meta-a b", value: "v"))
        #expect(!PostObjectUpload.isHeaderSafe(name: "x-amz-meta-a", value: "v\u{0}"))
    }

    @Test("a signed POST to a bucket is not taken for a form")
    func detection() {
        let form = HTTPRequestHead(
            version: .http1_1,
            method: .POST,
            uri: "/my%2Dbucket/",
            headers: ["Content-Type": "multipart/form-data; boundary=\"abc\""]
        )
        #expect(PostObjectUpload.detect(form)?.bucket == "my-bucket")
        #expect(PostObjectUpload.detect(form)?.boundary == "abc")
        var signed = form
        signed.headers.add(name: "Authorization", value: "AWS4-HMAC-SHA256 …")
        #expect(PostObjectUpload.detect(signed) == nil)
        for uri in ["/a%2Fb", "/%2E%2E", "/."] {
            var escaping = form
            escaping.uri = uri
            #expect(PostObjectUpload.detect(escaping) == nil, "\(uri) decodes to more than one path segment")
        }
        var withQuery = form
        withQuery.uri = "/bucket?delete"
        #expect(PostObjectUpload.detect(withQuery) == nil)
        var object = form
        object.uri = "/bucket/key"
        #expect(PostObjectUpload.detect(object) == nil)
    }
}
