import NIOCore
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

@Suite("--max-object-size")
struct ObjectSizeLimitTests {
    @Test("a PUT declaring more than the limit gets EntityTooLarge and never reaches the upstream")
    func declaredTooLarge() throws {
        let proxy = try EmbeddedProxy(maxObjectSize: 10)
        try proxy.send(.PUT, "/b/k", headers: proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "11")]))
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>EntityTooLarge</Code>"))
        #expect(parts.bodyText.contains("<MaxSizeAllowed>10</MaxSizeAllowed>"))
        #expect(proxy.upstreams.acquireCalls == 0)
    }

    @Test("an aws-chunked PUT is judged by its decoded length, not its framed Content-Length")
    func decodedLengthCounts() throws {
        let over = try EmbeddedProxy(maxObjectSize: 100)
        try over.send(
            .PUT,
            "/b/k",
            headers: over.signer.sign(
                method: "PUT",
                uri: "/b/k",
                headers: [
                    ("Content-Length", "90"), ("x-amz-decoded-content-length", "101"), ("Content-Encoding", "aws-chunked"),
                    ("x-amz-trailer", "x-amz-checksum-crc32"),
                ],
                payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
            )
        )
        #expect(try over.responseParts().bodyText.contains("<Code>EntityTooLarge</Code>"))
        #expect(over.upstreams.acquireCalls == 0)
    }

    @Test(
        "an aws-chunked upload of exactly the limit streams whole: its decoded bytes count, not the framing",
        arguments: [UpstreamMode.passthrough, .trusted]
    )
    func chunkedAtTheLimit(mode: UpstreamMode) throws {
        let decoded = "hello, chunked world"
        let proxy = try EmbeddedProxy(mode: mode, maxObjectSize: Int64(decoded.utf8.count))
        var headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", String(decoded.utf8.count))],
            payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        )
        let seed = String(headers.last!.value.split(separator: "=").last!)
        let body = ProxyHandlerTests.signedChunks(["hello, ", "chunked world"], seed: seed)
        headers.append(("Content-Length", String(body.utf8.count)))
        try proxy.send(.PUT, "/b/k", headers: headers)
        try proxy.sendBody(body)
        try proxy.sendEnd()
        let up = try proxy.upstreams.upstreamParts()
        #expect(up.hasEnd, "an upload of exactly the limit was cut off")
        #expect(up.bodyText == (mode.name == "passthrough" ? body : decoded))
        #expect(try proxy.responseParts().statuses.isEmpty, "no error reply")
    }

    @Test("exactly the limit passes; GETs and other methods are not limited")
    func atTheLimit() throws {
        let proxy = try EmbeddedProxy(maxObjectSize: 5)
        try proxy.send(.PUT, "/b/k", headers: proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "5")]))
        try proxy.sendBody("hello")
        try proxy.sendEnd()
        let up = try proxy.upstreams.upstreamParts()
        #expect(up.bodyText == "hello" && up.hasEnd)

        let get = try EmbeddedProxy(maxObjectSize: 0)
        try get.send(.GET, "/b/k", headers: get.signer.sign(method: "GET", uri: "/b/k"))
        try get.sendEnd()
        #expect(get.upstreams.acquireCalls == 1)
    }

    @Test("a chunked body of undeclared size is aborted upstream once it passes the limit")
    func streamedTooLarge() throws {
        let proxy = try EmbeddedProxy(maxObjectSize: 10)
        try proxy.send(
            .PUT,
            "/b/k",
            headers: proxy.signer.sign(method: "PUT", uri: "/b/k", headers: [("Transfer-Encoding", "chunked")])
        )
        try proxy.sendBody("123456")
        try proxy.sendBody("7890")
        #expect(proxy.upstreams.upstream.isActive, "exactly the limit so far: still streaming")
        try proxy.sendBody("X")
        let up = try proxy.upstreams.upstreamParts()
        #expect(up.bodyText == "1234567890", "the byte past the limit must not go upstream")
        #expect(!up.hasEnd)
        #expect(!proxy.upstreams.upstream.isActive, "the upstream request was not aborted")
        #expect(proxy.upstreams.released == [false])
        let parts = try proxy.responseParts()
        #expect(parts.statuses == [400])
        #expect(parts.bodyText.contains("<Code>EntityTooLarge</Code>"))
    }
}
