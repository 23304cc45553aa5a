import Crypto
import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

/// A digest executor the test drives: jobs wait until `runAll()`, so a test decides when (and whether)
/// the off-loop hashing happens.
final class ManualDigestExecutor: DigestExecutor, @unchecked Sendable {
    private let lock = NSLock()
    private var jobs: [@Sendable () -> Void] = []

    func execute(_ work: @escaping @Sendable () -> Void) { lock.withLock { jobs.append(work) } }

    var pending: Int { lock.withLock { jobs.count } }

    func runAll() {
        while let job = lock.withLock({ jobs.isEmpty ? nil : jobs.removeFirst() }) { job() }
    }
}

/// Chunk hashes and checksums computed off the event loop: the verdicts come back later, and the body's
/// end still waits for all of them.
@Suite("Digest offload")
struct DigestOffloadTests {
    typealias Docs = RequestBodyVerifierTests

    static func offload(_ executor: ManualDigestExecutor, maxQueuedBytes: Int = 8 << 20) -> DigestOffload {
        DigestOffload(minimumLength: 0, inlineChecksums: [], maxQueuedBytes: maxQueuedBytes, makeExecutor: { executor })
    }

    /// Feeds `body` to an offloaded verifier; runs the worker after each piece when `eager`, else only at
    /// the end. Returns what went upstream and the final verdict.
    static func feed(
        _ body: [UInt8],
        output: RequestBodyVerifier.Output = .decoded,
        tamperedAt: Int? = nil,
        eager: Bool
    ) throws -> (forwarded: [UInt8], result: RequestBodyVerifier.Result) {
        let loop = EmbeddedEventLoop()
        let executor = ManualDigestExecutor()
        let auth = try Docs.docsVerifier.authenticate(Docs.chunkedHead, now: Docs.docsNow)
        var verifier = try RequestBodyVerifier(
            auth: auth,
            headers: Docs.chunkedHead.headers,
            declaredLength: 66824,
            output: output
        )
        let offloaded = verifier.offloadDigests(offload(executor), eventLoop: loop)
        let worker = try #require(offloaded)
        var progress = 0
        worker.onProgress = { progress += 1 }
        var forwarded: [UInt8] = []
        var offset = 0
        while offset < body.count {
            let piece = ByteBuffer(bytes: body[offset..<min(body.count, offset + 7000)])
            offset += 7000
            switch verifier.consume(piece) {
            case .forward(let out): forwarded += Array(out.readableBytesView)
            case .forwardEach(let pieces): for out in pieces { forwarded += Array(out.readableBytesView) }
            case .hold: break
            case .reject(let error): return (forwarded, .reject(error))
            }
            if eager {
                executor.runAll()
                loop.run()
            }
        }
        var result = verifier.finish()
        var rounds = 0
        while result == .waiting {
            #expect(executor.pending > 0 || rounds == 0, "waiting with nothing to wait for")
            executor.runAll()
            loop.run()
            result = verifier.finish()
            rounds += 1
            guard rounds < 10 else { break }
        }
        #expect(progress > 0)
        if case .complete(let tail) = result, let tail { forwarded += Array(tail.readableBytesView) }
        return (forwarded, result)
    }

    @Test("an offloaded signed body decodes whole once every digest is back", arguments: [false, true])
    func good(eager: Bool) throws {
        let (forwarded, result) = try Self.feed(Docs.chunkedBody(), eager: eager)
        #expect(Docs.rejection(result) == nil)
        #expect(forwarded == [UInt8](repeating: 0x61, count: 66560))
    }

    @Test("finish waits for outstanding digests instead of completing early")
    func finishWaits() throws {
        let loop = EmbeddedEventLoop()
        let executor = ManualDigestExecutor()
        let auth = try Docs.docsVerifier.authenticate(Docs.chunkedHead, now: Docs.docsNow)
        var verifier = try RequestBodyVerifier(auth: auth, headers: Docs.chunkedHead.headers, declaredLength: 66824, output: .raw)
        let offloaded = verifier.offloadDigests(Self.offload(executor), eventLoop: loop)
        _ = try #require(offloaded)
        _ = verifier.consume(ByteBuffer(bytes: Docs.chunkedBody()))
        #expect(verifier.finish() == .waiting)
        executor.runAll()
        #expect(verifier.finish() == .waiting, "results count only once delivered on the event loop")
        loop.run()
        #expect(verifier.finish() == .complete(tail: ByteBuffer(bytes: Docs.chunkedBody())))
    }

    @Test(
        "a forged byte mid-body fails late but the end never goes upstream",
        arguments: [(10, false), (30_000, false), (30_000, true), (66_700, true)]
    )
    func forgedChunk(index: Int, eager: Bool) throws {
        let (forwarded, result) = try Self.feed(Docs.chunkedBody(tamperAt: index), tamperedAt: index, eager: eager)
        let error = try #require(Docs.rejection(result))
        #expect(error.code == .signatureDoesNotMatch || error.code == .incompleteBody)
        #expect(forwarded.count < 66560)
    }

    @Test("a small body, or a body without anything to hash, stays inline")
    func smallStaysInline() throws {
        let auth = try Docs.docsVerifier.authenticate(Docs.chunkedHead, now: Docs.docsNow)
        var verifier = try RequestBodyVerifier(auth: auth, headers: Docs.chunkedHead.headers, declaredLength: 66824, output: .decoded)
        let small = verifier.offloadDigests(DigestOffload(), eventLoop: EmbeddedEventLoop())
        #expect(small == nil)
        var plain = try RequestBodyVerifier(auth: try Docs.auth(.unsigned), headers: [], declaredLength: 10, output: .decoded)
        let unchunked = plain.offloadDigests(Self.offload(ManualDigestExecutor()), eventLoop: EmbeddedEventLoop())
        #expect(unchunked == nil)
    }

    @Test("the hashing queue is bounded: backlogged until the worker catches up")
    func backlog() throws {
        let loop = EmbeddedEventLoop()
        let executor = ManualDigestExecutor()
        let auth = try Docs.docsVerifier.authenticate(Docs.chunkedHead, now: Docs.docsNow)
        var verifier = try RequestBodyVerifier(auth: auth, headers: Docs.chunkedHead.headers, declaredLength: 66824, output: .decoded)
        let offloaded = verifier.offloadDigests(Self.offload(executor, maxQueuedBytes: 10_000), eventLoop: loop)
        _ = try #require(offloaded)
        let body = Docs.chunkedBody()
        _ = verifier.consume(ByteBuffer(bytes: body[0..<5000]))
        #expect(!verifier.digestsBacklogged)
        _ = verifier.consume(ByteBuffer(bytes: body[5000..<20000]))
        #expect(verifier.digestsBacklogged)
        executor.runAll()
        #expect(verifier.digestsBacklogged, "still counted until delivered on the loop")
        loop.run()
        #expect(!verifier.digestsBacklogged)
    }

    @Test("by default, unsigned chunks with a CRC trailer stay inline; a SHA-256 trailer or signed chunks go off the loop")
    func defaultPolicy() throws {
        let offload = DigestOffload(minimumLength: 0, makeExecutor: { ManualDigestExecutor() })
        func offloaded(_ algorithm: ChecksumAlgorithm) throws -> Bool {
            let signer = TestSigner()
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/k",
                headers: [
                    ("Content-Encoding", "aws-chunked"), ("x-amz-trailer", algorithm.headerName),
                    ("x-amz-decoded-content-length", "5"),
                ],
                payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
            )
            let head = S3RequestHead(method: "PUT", uri: "/b/k", headers: headers)
            let auth = try signer.verifier.authenticate(head, now: TestSigner.now)
            var verifier = try RequestBodyVerifier(auth: auth, headers: headers, declaredLength: nil, output: .decoded)
            return verifier.offloadDigests(offload, eventLoop: EmbeddedEventLoop()) != nil
        }
        #expect(try !offloaded(.crc32))
        #expect(try !offloaded(.crc32c))
        #expect(try !offloaded(.crc64nvme))
        #expect(try offloaded(.sha256))
        #expect(try offloaded(.sha1))
        let auth = try Docs.docsVerifier.authenticate(Docs.chunkedHead, now: Docs.docsNow)
        var signed = try RequestBodyVerifier(auth: auth, headers: Docs.chunkedHead.headers, declaredLength: 66824, output: .decoded)
        #expect(signed.offloadDigests(offload, eventLoop: EmbeddedEventLoop()) != nil)
    }

    @Test("no more bodies hash off the loop at once than there are slots; a slot comes back with its worker")
    func slotsBoundConcurrentWorkers() throws {
        var offload = Self.offload(ManualDigestExecutor())
        offload.slots = DigestSlots(limit: 1)
        let auth = try Docs.docsVerifier.authenticate(Docs.chunkedHead, now: Docs.docsNow)
        func verifier() throws -> RequestBodyVerifier {
            try RequestBodyVerifier(auth: auth, headers: Docs.chunkedHead.headers, declaredLength: 66824, output: .decoded)
        }
        var first: RequestBodyVerifier? = try verifier()
        #expect(first!.offloadDigests(offload, eventLoop: EmbeddedEventLoop()) != nil)
        #expect(offload.slots.inUse == 1)
        var second = try verifier()
        #expect(second.offloadDigests(offload, eventLoop: EmbeddedEventLoop()) == nil, "over the limit: hashed inline")
        let (forwarded, _, result) = RequestBodyVerifierTests.feed(&second, Docs.chunkedBody(), pieces: 9)
        #expect(RequestBodyVerifierTests.rejection(result) == nil)
        #expect(forwarded == [UInt8](repeating: 0x61, count: 66560), "the inline body is still checked and decoded")
        first = nil
        #expect(offload.slots.inUse == 0)
        var third = try verifier()
        #expect(third.offloadDigests(offload, eventLoop: EmbeddedEventLoop()) != nil)
    }

    // MARK: - Through the handler

    /// Head and body of an unsigned aws-chunked upload with a CRC32 trailer (`trailerValue` overrides it).
    static func sendTrailerUpload(_ proxy: EmbeddedProxy, data: [UInt8], trailerValue: String? = nil) throws {
        var crc = StreamingChecksum(.crc32)
        crc.update(data)
        var body: [UInt8] = []
        for start in stride(from: 0, to: data.count, by: 4096) {
            let chunk = data[start..<min(data.count, start + 4096)]
            body += Array((String(chunk.count, radix: 16) + "\r\n").utf8) + chunk + [0x0D, 0x0A]
        }
        body += Array("0\r\nx-amz-checksum-crc32:\(trailerValue ?? crc.finalizeBase64())\r\n\r\n".utf8)
        var headers = proxy.signer.sign(
            method: "PUT",
            uri: "/b/k",
            headers: [
                ("Content-Encoding", "aws-chunked"), ("x-amz-trailer", "x-amz-checksum-crc32"),
                ("x-amz-decoded-content-length", String(data.count)),
            ],
            payloadHash: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        )
        headers.append(("Content-Length", String(body.count)))
        try proxy.send(.PUT, "/b/k", headers: headers)
        for start in stride(from: 0, to: body.count, by: 10_000) {
            try proxy.client.writeInbound(
                HTTPServerRequestPart.body(ByteBuffer(bytes: body[start..<min(body.count, start + 10_000)]))
            )
        }
    }

    static func upstreamBody(_ parts: [HTTPClientRequestPart]) -> (bytes: [UInt8], ended: Bool) {
        var bytes: [UInt8] = []
        var ended = false
        for part in parts {
            switch part {
            case .body(.byteBuffer(let buffer)): bytes += Array(buffer.readableBytesView)
            case .end: ended = true
            default: break
            }
        }
        return (bytes, ended)
    }

    static func status(_ parts: [HTTPServerResponsePart]) -> HTTPResponseStatus? {
        for case .head(let head) in parts { return head.status }
        return nil
    }

    static let data = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    @Test("through the handler: the request ends upstream only after the off-loop checksum came back good")
    func handlerGood() throws {
        let executor = ManualDigestExecutor()
        let proxy = try EmbeddedProxy(mode: .trusted, digestOffload: Self.offload(executor))
        try Self.sendTrailerUpload(proxy, data: Self.data)
        try proxy.sendEnd()
        var parts = try proxy.upstreams.upstreamParts()
        #expect(!Self.upstreamBody(parts).ended)
        executor.runAll()
        proxy.loop.run()
        executor.runAll()
        proxy.loop.run()
        parts += try proxy.upstreams.upstreamParts()
        let (bytes, ended) = Self.upstreamBody(parts)
        #expect(ended)
        #expect(bytes == Self.data)
        #expect(Self.status(try proxy.responseParts()) == nil, "no error reply")
    }

    @Test("through the handler: a forged trailer checksum is BadDigest and the upstream never gets the end")
    func handlerBadDigest() throws {
        let executor = ManualDigestExecutor()
        let proxy = try EmbeddedProxy(mode: .trusted, digestOffload: Self.offload(executor))
        try Self.sendTrailerUpload(proxy, data: Self.data, trailerValue: "AAAAAA==")
        try proxy.sendEnd()
        for _ in 0..<3 {
            executor.runAll()
            proxy.loop.run()
        }
        #expect(!Self.upstreamBody(try proxy.upstreams.upstreamParts()).ended)
        #expect(Self.status(try proxy.responseParts()) == .badRequest)
        #expect(proxy.upstreams.released == [false])
    }

    @Test("through the handler: reads from the client stop while the hashing queue is full")
    func handlerBackpressure() throws {
        let executor = ManualDigestExecutor()
        let proxy = try EmbeddedProxy(mode: .trusted, digestOffload: Self.offload(executor, maxQueuedBytes: 20_000))
        try Self.sendTrailerUpload(proxy, data: Self.data)
        let before = proxy.counter.reads
        proxy.client.read()
        #expect(proxy.counter.reads == before, "read passed while digests were backlogged")
        executor.runAll()
        proxy.loop.run()
        #expect(proxy.counter.reads == before + 1, "the held read was not released")
    }

    @Test("through the handler: the client leaving while digests are out is safe, and nothing ends upstream")
    func handlerClientGone() throws {
        let executor = ManualDigestExecutor()
        let proxy = try EmbeddedProxy(mode: .trusted, digestOffload: Self.offload(executor))
        try Self.sendTrailerUpload(proxy, data: Self.data)
        #expect(executor.pending > 0)
        _ = try proxy.client.finish(acceptAlreadyClosed: true)
        executor.runAll()
        proxy.loop.run()
        #expect(!Self.upstreamBody(try proxy.upstreams.upstreamParts()).ended)
        #expect(proxy.upstreams.released == [false])
    }
}
