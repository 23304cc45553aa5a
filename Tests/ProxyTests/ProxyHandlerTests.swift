import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

@Suite("ProxyHandler on EmbeddedChannel")
struct ProxyHandlerTests {
    @Test("a verified GET is forwarded with the same target and the response comes back with a request id")
    func forwardsAndRelays() throws {
        let proxy = try EmbeddedProxy()
        let uri = "/bucket/a%2Fb?versionId=1"
        try proxy.send(.GET, uri, headers: proxy.signer.sign(method: "GET", uri: uri))
        try proxy.sendEnd()
        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("no head upstream")
            return
        }
        #expect(head.uri == uri)
        #expect(up.hasEnd)

        let responseHeaders = HTTPHeaders([
            ("Content-Length", "2"), ("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"),
        ])
        try proxy.upstreams.upstream.writeInbound(
            HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: responseHeaders))
        )
        try proxy.upstreams.upstream.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: "ok")))
        try proxy.upstreams.upstream.writeInbound(HTTPClientResponsePart.end(nil))
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [200])
        #expect(parts.bodyText == "ok")
        guard case .head(let responseHead) = parts.first else { return }
        #expect(responseHead.headers["x-amz-request-id"].first?.count == 16)
        #expect(!responseHead.headers.contains(name: "keep-alive"))
        #expect(!responseHead.headers.contains(name: "connection"))
        #expect(proxy.upstreams.released == [true])
        #expect(proxy.client.isActive)
    }

    @Test("a non-writable upstream stops reads from the client until it drains")
    func upstreamBackpressure() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(
            .PUT,
            "/b/k",
            headers: proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "10")])
        )
        try proxy.sendBody("hello")
        #expect(try proxy.upstreams.upstreamParts().bodyText == "hello")

        let upstream = proxy.upstreams.upstream
        upstream.isWritable = false
        upstream.pipeline.fireChannelWritabilityChanged()
        let before = proxy.counter.reads
        proxy.client.read()
        #expect(proxy.counter.reads == before, "read passed while the upstream was not writable")

        upstream.isWritable = true
        upstream.pipeline.fireChannelWritabilityChanged()
        #expect(proxy.counter.reads == before + 1, "the held read was not released")
        proxy.client.read()
        #expect(proxy.counter.reads == before + 2)
    }

    @Test("a non-writable client stops reads from the upstream until it drains")
    func clientBackpressure() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(.GET, "/b/k", headers: proxy.signer.sign(method: "GET", uri: "/b/k"))
        try proxy.sendEnd()
        let (upstream, upstreamReads) = proxy.upstreams.acquired.last!
        try upstream.writeInbound(
            HTTPClientResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "4"])
            )
        )

        proxy.client.isWritable = false
        proxy.client.pipeline.fireChannelWritabilityChanged()
        let before = upstreamReads.reads
        upstream.read()
        #expect(upstreamReads.reads == before)

        proxy.client.isWritable = true
        proxy.client.pipeline.fireChannelWritabilityChanged()
        #expect(upstreamReads.reads == before + 1)
    }

    @Test("no client reads while waiting for an upstream connection")
    func noReadsWhileConnecting() throws {
        let proxy = try EmbeddedProxy(behaviour: .deferred)
        try proxy.send(
            .PUT,
            "/b/k",
            headers: proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "3")])
        )
        let before = proxy.counter.reads
        proxy.client.read()
        #expect(proxy.counter.reads == before)
        try proxy.sendBody("abc")  // arrived with the head: queued, not lost
        proxy.upstreams.completeDeferred()
        #expect(proxy.counter.reads == before + 1)
        try proxy.sendEnd()
        let up = try proxy.upstreams.upstreamParts()
        #expect(up.bodyText == "abc")
        #expect(up.hasEnd)
    }

    @Test("a body that does not match its signed hash never completes upstream and gets XAmzContentSHA256Mismatch")
    func abortOnHashMismatch() throws {
        let proxy = try EmbeddedProxy()
        let hash = TestSigner.sha256Hex(Array("hello".utf8))
        try proxy.send(
            .PUT,
            "/b/k",
            headers: proxy.signer.sign(
                method: "PUT",
                uri: "/b/k",
                headers: [("Content-Length", "5")],
                payloadHash: hash
            )
        )
        try proxy.sendBody("hel")
        try proxy.sendBody("lx")
        try proxy.sendEnd()

        let up = try proxy.upstreams.upstreamParts()
        #expect(up.bodyText == "hel", "the last piece must be withheld")
        #expect(!up.hasEnd)
        #expect(!proxy.upstreams.upstream.isActive, "the upstream request was not aborted")
        #expect(proxy.upstreams.released == [false])

        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>XAmzContentSHA256Mismatch</Code>"))
        #expect(parts.bodyText.contains("<S3ComputedContentSHA256>"))
    }

    @Test("a matching hashed body is forwarded whole, the last piece after the check")
    func hashedBodyForwarded() throws {
        let proxy = try EmbeddedProxy()
        let hash = TestSigner.sha256Hex(Array("hello".utf8))
        try proxy.send(
            .PUT,
            "/b/k",
            headers: proxy.signer.sign(
                method: "PUT",
                uri: "/b/k",
                headers: [("Content-Length", "5")],
                payloadHash: hash
            )
        )
        try proxy.sendBody("hel")
        try proxy.sendBody("lo")
        #expect(try proxy.upstreams.upstreamParts().bodyText == "hel")
        try proxy.sendEnd()
        let rest = try proxy.upstreams.upstreamParts()
        #expect(rest.bodyText == "lo")
        #expect(rest.hasEnd)
    }

    @Test("Expect: 100-continue is answered only after authentication and an upstream connection")
    func continueAfterAuth() throws {
        let proxy = try EmbeddedProxy(behaviour: .deferred)
        // Like botocore, the signer leaves Expect unsigned.
        try proxy.send(
            .PUT,
            "/b/k",
            headers: proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "3")]) + [
                ("Expect", "100-continue")
            ]
        )
        #expect(try proxy.responseParts().isEmpty, "100 Continue sent before the upstream was ready")
        proxy.upstreams.completeDeferred()
        #expect(try proxy.responseParts().statuses == [100])
        guard case .head(let head) = try proxy.upstreams.upstreamParts().first else {
            Issue.record("no upstream head")
            return
        }
        #expect(!head.headers.contains(name: "expect"))
    }

    @Test("a rejected Expect: 100-continue request gets the S3 error instead of 100, and the connection closes")
    func continueRejected() throws {
        let proxy = try EmbeddedProxy()
        let headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [("Content-Length", "3"), ("Expect", "100-continue")],
            secret: "wrong"
        )
        try proxy.send(.PUT, "/b/k", headers: headers)
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [403])
        #expect(parts.bodyText.contains("<Code>SignatureDoesNotMatch</Code>"))
        #expect(proxy.upstreams.acquireCalls == 0)
        #expect(!proxy.client.isActive)
    }

    @Test("anonymous requests get AccessDenied and nothing is forwarded")
    func anonymous() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(.GET, "/b/k", headers: [("Host", "s3.local")])
        try proxy.sendEnd()
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [403])
        #expect(parts.bodyText.contains("<Code>AccessDenied</Code>"))
        #expect(parts.bodyText.contains("<Resource>/b/k</Resource>"))
        #expect(proxy.upstreams.acquireCalls == 0)
        #expect(proxy.client.isActive, "a body-less rejection keeps the connection")
    }

    @Test("Content-Length with Transfer-Encoding is refused before authentication")
    func ambiguousFraming() throws {
        let proxy = try EmbeddedProxy()
        var headers = proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "3")])
        headers.append(("Transfer-Encoding", "chunked"))
        try proxy.send(.PUT, "/b/k", headers: headers)
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>InvalidRequest</Code>"))
        #expect(proxy.upstreams.acquireCalls == 0)
        #expect(!proxy.client.isActive)
    }

    /// An aws-chunked body signed chunk by chunk with the test signer's key, seeded by `seed`.
    static func signedChunks(_ chunks: [String], seed: String, tamper: Bool = false) -> String {
        let key = SigningKey(
            secretAccessKey: TestSigner().secretAccessKey,
            date: String(TestSigner.basic(TestSigner.now).prefix(8)),
            region: "us-east-1",
            service: "s3"
        )
        var previous = seed
        var body = ""
        for chunk in chunks + [""] {
            let sts = "AWS4-HMAC-SHA256-PAYLOAD\n\(TestSigner.basic(TestSigner.now))\n"
                + "\(TestSigner.basic(TestSigner.now).prefix(8))/us-east-1/s3/aws4_request\n\(previous)\n"
                + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                + TestSigner.sha256Hex(Array(chunk.utf8))
            var signature = key.signatureHex(Array(sts.utf8))
            if tamper && chunk == chunks.first { signature = String(repeating: "0", count: 64) }
            body += String(chunk.utf8.count, radix: 16) + ";chunk-signature=\(signature)\r\n" + chunk + "\r\n"
            previous = signature
        }
        return String(body.dropLast(2)) + "\r\n\r\n"
    }

    private static func seed(_ headers: [(name: String, value: String)]) -> String {
        String(headers.last!.value.split(separator: "=").last!)
    }

    @Test("an aws-chunked upload is decoded and verified; trusted mode forwards the decoded object bytes")
    func chunkedUploadDecoded() throws {
        let proxy = try EmbeddedProxy(mode: .trusted)
        let decoded = "hello, chunked world"
        var headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", String(decoded.utf8.count))],
            payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        )
        let body = Self.signedChunks(["hello, ", "chunked world"], seed: Self.seed(headers))
        headers.append(("Content-Length", String(body.utf8.count)))
        try proxy.send(.PUT, "/b/k", headers: headers)
        try proxy.sendBody(String(body.prefix(40)))
        try proxy.sendBody(String(body.dropFirst(40)))
        try proxy.sendEnd()

        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let upstreamHead) = up.first else {
            Issue.record("no upstream head")
            return
        }
        #expect(upstreamHead.headers["Content-Length"] == [String(decoded.utf8.count)])
        #expect(upstreamHead.headers["Content-Encoding"].isEmpty)
        #expect(upstreamHead.headers["x-amz-decoded-content-length"].isEmpty)
        #expect(up.bodyText == decoded)
        #expect(up.hasEnd)
    }

    /// An unsigned aws-chunked upload of `chunks` with a CRC32 trailer (`trailerValue` overrides the checksum).
    private static func unsignedTrailerUpload(
        _ proxy: EmbeddedProxy,
        chunks: [String],
        trailerValue: String? = nil
    ) throws -> (checksum: String, body: String) {
        var crc = StreamingChecksum(.crc32)
        crc.update(Array(chunks.joined().utf8))
        let checksum = crc.finalizeBase64()
        var body = chunks.map { String($0.utf8.count, radix: 16) + "\r\n" + $0 + "\r\n" }.joined()
        body += "0\r\nx-amz-checksum-crc32:\(trailerValue ?? checksum)\r\n\r\n"
        var headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [
                ("Content-Encoding", "aws-chunked"), ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-decoded-content-length", String(chunks.joined().utf8.count)),
            ],
            payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        )
        headers.append(("Content-Length", String(body.utf8.count)))
        try proxy.send(.PUT, "/b/k", headers: headers)
        try proxy.sendBody(String(body.prefix(9)))
        try proxy.sendBody(String(body.dropFirst(9)))
        try proxy.sendEnd()
        return (checksum, body)
    }

    /// Splits an unsigned aws-chunked body into its data and its trailer block; `nil` if malformed.
    /// (Bytes, not Characters: Swift reads "\r\n" as one Character.)
    private static func unframe(_ body: String) -> (data: String, trailer: String)? {
        let bytes = Array(body.utf8)
        let crlf: [UInt8] = [0x0D, 0x0A]
        var data: [UInt8] = []
        var i = 0
        while let end = (i..<max(i, bytes.count - 1)).first(where: { bytes[$0] == 0x0D && bytes[$0 + 1] == 0x0A }) {
            guard let size = Int(String(decoding: bytes[i..<end], as: UTF8.self), radix: 16) else { return nil }
            i = end + 2
            if size == 0 {
                guard bytes.count >= i + 2, Array(bytes.suffix(2)) == crlf else { return nil }
                return (String(decoding: data, as: UTF8.self), String(decoding: bytes[i..<(bytes.count - 2)], as: UTF8.self))
            }
            guard bytes.count >= i + size + 2, Array(bytes[(i + size)..<(i + size + 2)]) == crlf else { return nil }
            data += bytes[i..<(i + size)]
            i += size + 2
        }
        return nil
    }

    @Test("resign mode passes a verified trailing checksum on: the decoded bytes go as unsigned aws-chunked with the trailer")
    func trailerReframedForResign() throws {
        let backend = UpstreamCredentials(accessKeyId: "BACKEND", secretAccessKey: "backend-secret", region: "us-east-1")
        let proxy = try EmbeddedProxy(mode: .resign(backend))
        let (checksum, _) = try Self.unsignedTrailerUpload(proxy, chunks: ["hello, ", "trailer world"])

        let up = try proxy.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("no upstream head")
            return
        }
        #expect(head.headers["x-amz-content-sha256"] == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"])
        #expect(head.headers["Content-Encoding"] == ["aws-chunked"])
        #expect(head.headers["Transfer-Encoding"] == ["chunked"])
        #expect(head.headers["Content-Length"].isEmpty)
        #expect(head.headers["x-amz-trailer"] == ["x-amz-checksum-crc32"])
        #expect(head.headers["x-amz-decoded-content-length"] == ["20"])
        let authorization = head.headers["Authorization"].first ?? ""
        #expect(authorization.contains("Credential=BACKEND/"))
        #expect(authorization.contains("x-amz-trailer"))
        // The client's two pieces split its chunks differently; what matters is the decoded data and trailer.
        #expect(up.bodyText.hasSuffix("0\r\nx-amz-checksum-crc32:\(checksum)\r\n\r\n"))
        let (data, trailer) = try #require(Self.unframe(up.bodyText))
        #expect(data == "hello, trailer world")
        #expect(trailer == "x-amz-checksum-crc32:\(checksum)\r\n")
        #expect(up.hasEnd)
    }

    @Test("trusted mode sends plain decoded bytes by default, and aws-chunked with the trailer when configured")
    func trailerForTrusted() throws {
        let plain = try EmbeddedProxy(mode: .trusted)
        _ = try Self.unsignedTrailerUpload(plain, chunks: ["abc", "def"])
        let plainUp = try plain.upstreams.upstreamParts()
        guard case .head(let plainHead) = plainUp.first else {
            Issue.record("no upstream head")
            return
        }
        #expect(plainHead.headers["Content-Length"] == ["6"])
        #expect(plainHead.headers["x-amz-trailer"].isEmpty)
        #expect(plainUp.bodyText == "abcdef")

        let reframed = try EmbeddedProxy(mode: .trusted, trailingChecksum: .awsChunked)
        let (checksum, _) = try Self.unsignedTrailerUpload(reframed, chunks: ["abc", "def"])
        let up = try reframed.upstreams.upstreamParts()
        guard case .head(let head) = up.first else {
            Issue.record("no upstream head")
            return
        }
        #expect(head.headers["x-amz-content-sha256"] == ["STREAMING-UNSIGNED-PAYLOAD-TRAILER"])
        #expect(head.headers["X-Sidecar-Access-Key"].count == 1)
        let (data, trailer) = try #require(Self.unframe(up.bodyText))
        #expect(data == "abcdef")
        #expect(trailer == "x-amz-checksum-crc32:\(checksum)\r\n")
    }

    @Test("a wrong trailing checksum is BadDigest, and the re-framed body never gets its final chunk upstream")
    func trailerReframedBadDigest() throws {
        let backend = UpstreamCredentials(accessKeyId: "BACKEND", secretAccessKey: "backend-secret", region: "us-east-1")
        let proxy = try EmbeddedProxy(mode: .resign(backend))
        _ = try Self.unsignedTrailerUpload(proxy, chunks: ["hello, ", "trailer world"], trailerValue: "AAAAAA==")
        let up = try proxy.upstreams.upstreamParts()
        #expect(!up.hasEnd)
        #expect(!up.bodyText.contains("0\r\n"), "the last chunk must not reach the upstream")
        #expect(proxy.upstreams.released == [false])
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>BadDigest</Code>"))
    }

    @Test("an aws-chunked upload with a forged chunk signature gets SignatureDoesNotMatch and never completes upstream")
    func chunkedUploadForged() throws {
        let proxy = try EmbeddedProxy()
        var headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "5")],
            payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        )
        let body = Self.signedChunks(["hello"], seed: Self.seed(headers), tamper: true)
        headers.append(("Content-Length", String(body.utf8.count)))
        try proxy.send(.PUT, "/b/k", headers: headers)
        try proxy.sendBody(body)
        try proxy.sendEnd()

        let up = try proxy.upstreams.upstreamParts()
        #expect(!up.hasEnd)
        #expect(up.bodyText.utf8.count < body.utf8.count, "the body's end must never reach the upstream")
        #expect(proxy.upstreams.released == [false])
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [403])
        #expect(parts.bodyText.contains("<Code>SignatureDoesNotMatch</Code>"))
    }

    @Test("an aws-chunked head whose trailer is not a checksum is refused before any upstream work")
    func chunkedUnsupportedTrailer() throws {
        let proxy = try EmbeddedProxy()
        let headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [("Content-Length", "100"), ("x-amz-decoded-content-length", "10"), ("x-amz-trailer", "x-amz-meta-a")],
            payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        )
        try proxy.send(.PUT, "/b/k", headers: headers)
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>InvalidRequest</Code>"))
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("an empty body whose signed hash is not the empty hash is refused before any upstream work")
    func emptyBodyWrongHash() throws {
        let proxy = try EmbeddedProxy()
        let headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [("Content-Length", "0")],
            payloadHash: TestSigner.sha256Hex(Array("not empty".utf8))
        )
        try proxy.send(.PUT, "/b/k", headers: headers)
        try proxy.sendEnd()
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>XAmzContentSHA256Mismatch</Code>"))
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("an unreachable upstream gives 502 BadGateway, a full pool 503 SlowDown")
    func upstreamUnavailable() throws {
        let proxy = try EmbeddedProxy(behaviour: .fail(.connectFailed("refused")))
        try proxy.send(.GET, "/b/k", headers: proxy.signer.sign(method: "GET", uri: "/b/k"))
        try proxy.sendEnd()
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [502])
        #expect(parts.bodyText.contains("<Code>BadGateway</Code>"))

        proxy.upstreams.behaviour = .fail(.poolExhausted)
        try proxy.send(.GET, "/b/k", headers: proxy.signer.sign(method: "GET", uri: "/b/k"))
        try proxy.sendEnd()
        #expect(try proxy.responseParts().statuses == [503])
    }

    @Test("an upstream that closes mid-response cuts the client connection")
    func upstreamDiesMidResponse() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(.GET, "/b/k", headers: proxy.signer.sign(method: "GET", uri: "/b/k"))
        try proxy.sendEnd()
        let upstream = proxy.upstreams.upstream
        try upstream.writeInbound(
            HTTPClientResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "10"])
            )
        )
        try upstream.close().wait()
        #expect(!proxy.client.isActive)
    }

    @Test("an upstream that closes before answering gives 502")
    func upstreamDiesBeforeResponse() throws {
        let proxy = try EmbeddedProxy()
        try proxy.send(.GET, "/b/k", headers: proxy.signer.sign(method: "GET", uri: "/b/k"))
        try proxy.sendEnd()
        try proxy.upstreams.upstream.close().wait()
        #expect(try proxy.responseParts().statuses == [502])
    }
}
