import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Proxy

/// The sidecar's own small upstream requests (presign API listings): every outcome reaches the caller.
@Suite("UpstreamFetch")
struct UpstreamFetchTests {
    final class Outcome {
        var results: [Result<(HTTPResponseHead, [UInt8]), UpstreamError>] = []
    }

    /// Starts a fetch; the caller keeps it alive (the upstream connection holds its delegate weakly, as the
    /// presign API handler's state holds the fetch in production).
    static func start(_ upstreams: FakeUpstreams, maxBodyBytes: Int = 100) -> (UpstreamFetch, Outcome) {
        let outcome = Outcome()
        let fetch = UpstreamFetch(
            upstreams: upstreams,
            head: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/b?list-type=2"),
            maxBodyBytes: maxBodyBytes,
            completion: { outcome.results.append($0) }
        )
        fetch.start()
        return (fetch, outcome)
    }

    static func respond(_ channel: EmbeddedChannel, body: String) throws {
        try channel.writeInbound(
            HTTPClientResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": String(body.utf8.count)])
            )
        )
        try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: body)))
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
    }

    @Test("a response is collected whole and the connection goes back to the pool")
    func collected() throws {
        let upstreams = FakeUpstreams(loop: EmbeddedEventLoop())
        let (fetch, outcome) = Self.start(upstreams)
        try withExtendedLifetime(fetch) { try Self.respond(upstreams.upstream, body: "<ListBucketResult/>") }
        #expect(outcome.results.count == 1)
        let (head, body) = try outcome.results[0].get()
        #expect(head.status == .ok)
        #expect(body == Array("<ListBucketResult/>".utf8))
        #expect(upstreams.released == [true])
    }

    @Test("a response over the limit fails the fetch (the caller is told) and closes the connection")
    func tooLarge() throws {
        let upstreams = FakeUpstreams(loop: EmbeddedEventLoop())
        let (fetch, outcome) = Self.start(upstreams, maxBodyBytes: 10)
        try withExtendedLifetime(fetch) { try Self.respond(upstreams.upstream, body: String(repeating: "x", count: 11)) }
        #expect(outcome.results.count == 1, "the caller was never called back: its client would hang")
        if case .success = outcome.results.first { Issue.record("an oversized response was accepted") }
        #expect(upstreams.released == [false])
    }

    @Test("a cancelled fetch calls nobody back")
    func cancelled() throws {
        let upstreams = FakeUpstreams(loop: EmbeddedEventLoop())
        let (fetch, outcome) = Self.start(upstreams)
        fetch.cancel()
        #expect(upstreams.released == [false])
        #expect(outcome.results.isEmpty)
    }

    @Test("a connection that fails before answering is reported as the upstream's error")
    func failed() throws {
        let upstreams = FakeUpstreams(loop: EmbeddedEventLoop(), behaviour: .fail(.closed))
        let (_, outcome) = Self.start(upstreams)
        #expect(outcome.results.count == 1)
        if case .success = outcome.results.first { Issue.record("a failed connection was reported as a success") }
    }
}
