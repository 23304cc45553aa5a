import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

/// Raw bytes through the real client pipeline: what NIO's parser refuses must still come back as S3 errors.
@Suite("Client pipeline parse errors")
struct ParserErrorTests {
    private func run(_ request: String, limits: NIOHTTPDecoderLimitConfiguration = .init()) throws -> (
        String, EmbeddedChannel
    ) {
        let loop = EmbeddedEventLoop()
        let upstreams = FakeUpstreams(loop: loop)
        let signer = TestSigner()
        let services = ProxyServices(
            verifier: signer.verifier,
            authorizer: AllowAllAuthorizer(),
            rewriter: UpstreamHeadRewriter(
                mode: .passthrough,
                upstream: UpstreamEndpoint(host: "127.0.0.1", port: 9000)
            ),
            clock: { TestSigner.now },
            logger: .disabled
        )
        let channel = EmbeddedChannel(loop: loop)
        try ProxyServer.configureClientPipeline(
            channel.pipeline.syncOperations,
            services: services,
            upstreams: upstreams,
            limits: limits,
            clientIdle: .seconds(60)
        )
        _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        do {
            try channel.writeInbound(ByteBuffer(string: request))
        } catch {
            // The decoder rethrows the parse error after the reply is written.
        }
        var out = ""
        while let data = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let b) = data { out += String(buffer: b) }
        }
        #expect(upstreams.acquireCalls == 0, "a refused request reached the upstream")
        return (out, channel)
    }

    @Test("Content-Length with Transfer-Encoding gets an S3 400, not a bare one")
    func contentLengthAndChunked() throws {
        let (out, _) = try run(
            "PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        #expect(out.hasPrefix("HTTP/1.1 400"))
        #expect(out.contains("<Code>InvalidRequest</Code>"))
        #expect(out.lowercased().contains("x-amz-request-id: "))
        #expect(out.lowercased().contains("connection: close"))
    }

    @Test("two different Content-Length values get an S3 400")
    func duplicateContentLength() throws {
        let (out, _) = try run("PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")
        #expect(out.hasPrefix("HTTP/1.1 400"))
        #expect(out.contains("<Code>"))
    }

    @Test("a transfer coding other than chunked is refused")
    func otherTransferCoding() throws {
        let (out, _) = try run("PUT /b/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 4") || out.hasPrefix("HTTP/1.1 501"))
        #expect(out.contains("<Code>"))
    }

    @Test("too many header fields get RequestHeaderSectionTooLarge")
    func tooManyHeaders() throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldCount = 20
        var request = "GET /b/k HTTP/1.1\r\nHost: x\r\n"
        for i in 0..<30 { request += "X-Filler-\(i): \(i)\r\n" }
        request += "\r\n"
        let (out, _) = try run(request, limits: limits)
        #expect(out.hasPrefix("HTTP/1.1 400"))
        #expect(out.contains("<Code>RequestHeaderSectionTooLarge</Code>"))
    }

    @Test("an oversized header section gets RequestHeaderSectionTooLarge")
    func headerSectionTooLarge() throws {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = 1024
        let request = "GET /b/k HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n"
        let (out, _) = try run(request, limits: limits)
        #expect(out.contains("<Code>RequestHeaderSectionTooLarge</Code>"))
    }

    @Test("an unsigned request on the real pipeline gets AccessDenied with a request id and keeps the connection")
    func anonymousOverRealPipeline() throws {
        let (out, channel) = try run("GET /b/k HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 403"))
        #expect(out.contains("<Code>AccessDenied</Code>"))
        #expect(channel.isActive)
    }
}

extension ParserErrorTests {
    @Test("a parse error after an early reply to the same request does not produce a second reply")
    func noSecondReply() throws {
        let channel = EmbeddedChannel(handler: S3ProtocolErrorHandler())
        let head = HTTPRequestHead(
            version: .http1_1,
            method: .PUT,
            uri: "/b/k",
            headers: ["Transfer-Encoding": "chunked"]
        )
        try channel.writeInbound(HTTPServerRequestPart.head(head))
        _ = try channel.readInbound(as: HTTPServerRequestPart.self)
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .forbidden)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        while try channel.readOutbound(as: HTTPServerResponsePart.self) != nil {}

        channel.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        #expect(try channel.readOutbound(as: HTTPServerResponsePart.self) == nil)
        #expect(throws: HTTPParserError.self) { try channel.throwIfErrorCaught() }

        // The next request's parse error is answered again.
        let fresh = EmbeddedChannel(handler: S3ProtocolErrorHandler())
        fresh.pipeline.fireErrorCaught(HTTPParserError.invalidChunkSize)
        guard case .head(let reply) = try fresh.readOutbound(as: HTTPServerResponsePart.self) else {
            Issue.record("no reply to a parse error")
            return
        }
        #expect(reply.status == .badRequest)
    }
}
