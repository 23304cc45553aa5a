import Crypto
import NIOCore
import Testing
import Verifier

@testable import Proxy

/// The streaming body checks: what goes upstream, what is held back, and every way a body is refused.
@Suite("RequestBodyVerifier")
struct RequestBodyVerifierTests {
    // MARK: - Requests to verify

    static let docsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let docsVerifier = SigV4Verifier(
        credentials: InMemoryCredentialStore([Credential(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: docsSecret)])
    )
    static let docsNow: Int64 = 1_369_353_600  // 20130524T000000Z

    /// The S3 documentation's signed aws-chunked PUT (sigv4-streaming, "Example: PUT Object").
    static let chunkedHead = S3RequestHead(
        method: "PUT",
        uri: "/examplebucket/chunkObject.txt",
        headers: [
            ("Host", "s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824"),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                    + "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                    + "x-amz-decoded-content-length;x-amz-storage-class,"
                    + "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
            ),
        ]
    )

    static func chunkedBody(tamperAt index: Int? = nil) -> [UInt8] {
        var body: [UInt8] = []
        body += Array("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n".utf8)
        body += [UInt8](repeating: 0x61, count: 65536) + [0x0D, 0x0A]
        body += Array("400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n".utf8)
        body += [UInt8](repeating: 0x61, count: 1024) + [0x0D, 0x0A]
        body += Array("0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n".utf8)
        if let index { body[index] ^= 0x01 }
        return body
    }

    /// An authenticated request with the given payload rule, for the non-chunked cases.
    static func auth(_ payload: PayloadRule) throws -> AuthenticatedRequest {
        var auth = try docsVerifier.authenticate(chunkedHead, now: docsNow)
        auth.payload = payload
        return auth
    }

    static func feed(
        _ verifier: inout RequestBodyVerifier,
        _ body: [UInt8],
        pieces: Int = 7
    ) -> (forwarded: [UInt8], rejected: S3Error?, result: RequestBodyVerifier.Result?) {
        var forwarded: [UInt8] = []
        let size = max(1, body.count / pieces + 1)
        var offset = 0
        while offset < body.count {
            let piece = ByteBuffer(bytes: body[offset..<min(body.count, offset + size)])
            offset += size
            switch verifier.consume(piece) {
            case .forward(let out): forwarded += Array(out.readableBytesView)
            case .forwardEach(let pieces): for out in pieces { forwarded += Array(out.readableBytesView) }
            case .hold: break
            case .reject(let error): return (forwarded, error, nil)
            }
        }
        let result = verifier.finish()
        if case .complete(let tail) = result, let tail { forwarded += Array(tail.readableBytesView) }
        return (forwarded, nil, result)
    }

    static func rejection(_ result: RequestBodyVerifier.Result?) -> S3Error? {
        if case .reject(let error) = result { return error }
        return nil
    }

    // MARK: - Plain bodies

    @Test("an unsigned body flows straight through; only its length is checked")
    func unsigned() throws {
        var verifier = try RequestBodyVerifier(auth: try Self.auth(.unsigned), headers: [], declaredLength: 5, output: .raw)
        #expect(verifier.consume(ByteBuffer(string: "hel")) == .forward(ByteBuffer(string: "hel")))
        #expect(verifier.consume(ByteBuffer(string: "lo")) == .forward(ByteBuffer(string: "lo")))
        #expect(verifier.finish() == .complete(tail: nil))
    }

    @Test("a hashed body holds back its latest piece until the hash is confirmed")
    func sha256Good() throws {
        let body = Array("hello world, streamed".utf8)
        var verifier = try RequestBodyVerifier(
            auth: try Self.auth(.sha256(Array(SHA256.hash(data: body)))),
            headers: [],
            declaredLength: Int64(body.count),
            output: .raw
        )
        #expect(verifier.consume(ByteBuffer(bytes: body[0..<5])) == .hold)
        #expect(verifier.consume(ByteBuffer(bytes: body[5...])) == .forward(ByteBuffer(bytes: body[0..<5])))
        #expect(verifier.finish() == .complete(tail: ByteBuffer(bytes: body[5...])))
    }

    @Test("a hash mismatch is XAmzContentSHA256Mismatch with both digests, and the last piece never goes upstream")
    func sha256Bad() throws {
        let body = Array("hello world".utf8)
        let expected = Array(SHA256.hash(data: Array("other".utf8)))
        var verifier = try RequestBodyVerifier(auth: try Self.auth(.sha256(expected)), headers: [], declaredLength: nil, output: .raw)
        let (forwarded, _, result) = Self.feed(&verifier, body, pieces: 3)
        let error = try #require(Self.rejection(result))
        #expect(error.code == .xAmzContentSHA256Mismatch)
        #expect(error.httpStatus == 400)
        #expect(error.detail("ClientComputedContentSHA256") == Hex.encode(expected))
        #expect(error.detail("S3ComputedContentSHA256") == Hex.encode(Array(SHA256.hash(data: body))))
        #expect(forwarded.count < body.count)
    }

    @Test("an empty body is checked against the digest of nothing")
    func emptyBody() throws {
        var good = try RequestBodyVerifier(
            auth: try Self.auth(.sha256(Array(SHA256.hash(data: [UInt8]())))),
            headers: [],
            declaredLength: 0,
            output: .raw
        )
        #expect(good.finish() == .complete(tail: nil))
        var bad = try RequestBodyVerifier(
            auth: try Self.auth(.sha256(Array(SHA256.hash(data: [UInt8(1)])))),
            headers: [],
            declaredLength: 0,
            output: .raw
        )
        #expect(Self.rejection(bad.finish())?.code == .xAmzContentSHA256Mismatch)
    }

    @Test("Content-Length: more bytes are refused as they arrive, fewer at the end")
    func lengths() throws {
        var long = try RequestBodyVerifier(auth: try Self.auth(.unsigned), headers: [], declaredLength: 3, output: .raw)
        #expect(long.consume(ByteBuffer(string: "abcd")) == .reject(S3Error(.invalidRequest, "The request body is longer than its Content-Length.")))
        var short = try RequestBodyVerifier(auth: try Self.auth(.unsigned), headers: [], declaredLength: 10, output: .raw)
        _ = short.consume(ByteBuffer(string: "abc"))
        #expect(Self.rejection(short.finish())?.code == .incompleteBody)
    }

    @Test("an x-amz-checksum-* header on a plain body is checked: BadDigest when it differs")
    func checksumHeader() throws {
        let body = Array("checksummed body".utf8)
        var crc = StreamingChecksum(.crc32)
        crc.update(body)
        var good = try RequestBodyVerifier(
            auth: try Self.auth(.unsigned),
            headers: [("x-amz-checksum-crc32", crc.finalizeBase64())],
            declaredLength: Int64(body.count),
            output: .raw
        )
        #expect(Self.feed(&good, body).forwarded == body)
        var bad = try RequestBodyVerifier(
            auth: try Self.auth(.unsigned),
            headers: [("x-amz-checksum-crc32", "AAAAAA==")],
            declaredLength: Int64(body.count),
            output: .raw
        )
        let (forwarded, _, result) = Self.feed(&bad, body, pieces: 2)
        #expect(Self.rejection(result)?.code == .badDigest)
        #expect(forwarded.count < body.count)
        #expect(throws: S3Error.self) {
            try RequestBodyVerifier(
                auth: try Self.auth(.unsigned),
                headers: [("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-checksum-sha1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
                declaredLength: nil,
                output: .raw
            )
        }
    }

    // MARK: - aws-chunked

    @Test(
        "a signed aws-chunked body goes upstream raw in passthrough, and decoded otherwise",
        arguments: [RequestBodyVerifier.Output.raw, .decoded]
    )
    func chunked(output: RequestBodyVerifier.Output) throws {
        let auth = try Self.docsVerifier.authenticate(Self.chunkedHead, now: Self.docsNow)
        var verifier = try RequestBodyVerifier(auth: auth, headers: Self.chunkedHead.headers, declaredLength: 66824, output: output)
        let body = Self.chunkedBody()
        let (forwarded, rejected, result) = Self.feed(&verifier, body, pieces: 9)
        #expect(rejected == nil)
        #expect(Self.rejection(result) == nil)
        #expect(forwarded == (output == .raw ? body : [UInt8](repeating: 0x61, count: 66560)))
    }

    @Test("decoded runs go upstream as slices of the read that carried them, the last one held back")
    func decodedRunsAreSlices() throws {
        let auth = try Self.docsVerifier.authenticate(Self.chunkedHead, now: Self.docsNow)
        var verifier = try RequestBodyVerifier(auth: auth, headers: Self.chunkedHead.headers, declaredLength: 66824, output: .decoded)
        let body = Self.chunkedBody()
        // The first read ends 12 bytes into the first chunk's data (its header is 88 bytes); the second holds
        // the rest of the body.
        #expect(verifier.consume(ByteBuffer(bytes: body[0..<100])) == .hold)
        let second = ByteBuffer(bytes: body[100...])
        guard case .forwardEach(let pieces) = verifier.consume(second) else {
            Issue.record("a read with a held piece and two runs should forward two pieces")
            return
        }
        #expect(pieces.map(\.readableBytes) == [12, 65524])
        let secondStart = second.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let runStart = pieces[1].withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(runStart == secondStart, "the run should be a slice of the read, not a copy")
        guard case .complete(let tail) = verifier.finish() else {
            Issue.record("the body is good")
            return
        }
        #expect(tail?.readableBytes == 1024)
        #expect(pieces.flatMap { Array($0.readableBytesView) } + Array(tail!.readableBytesView) == [UInt8](repeating: 0x61, count: 66560))
    }

    @Test("a tampered aws-chunked body is refused before its end reaches upstream", arguments: [10, 30_000, 66_700, 66_800])
    func chunkedTampered(index: Int) throws {
        let auth = try Self.docsVerifier.authenticate(Self.chunkedHead, now: Self.docsNow)
        var verifier = try RequestBodyVerifier(auth: auth, headers: Self.chunkedHead.headers, declaredLength: 66824, output: .decoded)
        let (forwarded, rejected, result) = Self.feed(&verifier, Self.chunkedBody(tamperAt: index), pieces: 9)
        #expect((rejected ?? Self.rejection(result)) != nil, "tampering byte \(index) went unnoticed")
        #expect(forwarded.count < 66560)
    }

    @Test("an aws-chunked request without x-amz-decoded-content-length is refused at the head")
    func chunkedNeedsDecodedLength() throws {
        let auth = try Self.docsVerifier.authenticate(Self.chunkedHead, now: Self.docsNow)
        let headers = Self.chunkedHead.headers.filter { $0.name != "x-amz-decoded-content-length" }
        #expect(throws: S3Error.self) {
            try RequestBodyVerifier(auth: auth, headers: headers, declaredLength: 66824, output: .decoded)
        }
    }
}

extension RequestBodyVerifier.Output: CustomTestStringConvertible {
    public var testDescription: String { self == .raw ? "raw" : "decoded" }
}
