import Crypto
import Foundation
import Testing

@testable import Verifier

/// aws-chunked bodies: the S3 documentation's signed examples, botocore-encoded unsigned bodies with
/// checksum trailers, and every way a body can be malformed or tampered with.
@Suite("aws-chunked decoder")
struct AWSChunkedDecoderTests {
    // MARK: - Fixtures: the S3 documentation examples

    static let docsKey = SigningKey(
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        date: "20130524",
        region: "us-east-1",
        service: "s3"
    )
    static let docsScope = CredentialScope(date: "20130524", region: "us-east-1", service: "s3")

    /// The documented body: 65536 + 1024 bytes of `a`, with the published chunk signatures.
    static func docsBody(trailer: Bool, tamper: ((inout [UInt8]) -> Void)? = nil) -> [UInt8] {
        let signatures = trailer
            ? [
                "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
            ]
            : [
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            ]
        var body: [UInt8] = []
        body += Array("10000;chunk-signature=\(signatures[0])\r\n".utf8)
        body += [UInt8](repeating: 0x61, count: 65536) + [0x0D, 0x0A]
        body += Array("400;chunk-signature=\(signatures[1])\r\n".utf8)
        body += [UInt8](repeating: 0x61, count: 1024) + [0x0D, 0x0A]
        body += Array("0;chunk-signature=\(signatures[2])\r\n".utf8)
        if trailer {
            body += Array("x-amz-checksum-crc32c:sOO8/Q==\r\n".utf8)
            body += Array(
                "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n".utf8
            )
        }
        body += [0x0D, 0x0A]
        tamper?(&body)
        return body
    }

    static func docsExpectations(trailer: Bool) -> AWSChunkedDecoder.Expectations {
        AWSChunkedDecoder.Expectations(
            payload: trailer ? .signedWithTrailer : .signed,
            seedSignature: trailer
                ? "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
                : "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            signingKey: docsKey,
            timestamp: "20130524T000000Z",
            scope: docsScope,
            trailerChecksum: trailer ? .crc32c : nil,
            decodedContentLength: 66560
        )
    }

    /// Feeds `body` in pieces cut at random points; returns the decoded bytes and the outcome or error.
    static func decode(
        _ body: [UInt8],
        _ expectations: AWSChunkedDecoder.Expectations,
        seed: UInt64 = 1,
        limits: AWSChunkedDecoder.Limits = .init()
    ) -> (decoded: [UInt8], result: Result<AWSChunkedDecoder.Outcome, S3Error>) {
        var decoder = AWSChunkedDecoder(expectations, limits: limits)
        var decoded: [UInt8] = []
        var rng = SplitMix64(seed: seed)
        var offset = 0
        do {
            while offset < body.count {
                let take = min(body.count - offset, Int.random(in: 1...9000, using: &rng))
                try decoder.consume(Array(body[offset..<(offset + take)])) { decoded += $0 }
                offset += take
            }
            return (decoded, .success(try decoder.finish()))
        } catch {
            return (decoded, .failure(error))
        }
    }

    // MARK: - The documented examples

    @Test("the documented signed chunked upload decodes and verifies, however it is split", arguments: [1, 2, 3] as [UInt64])
    func docsSigned(seed: UInt64) throws {
        let (decoded, result) = Self.decode(Self.docsBody(trailer: false), Self.docsExpectations(trailer: false), seed: seed)
        let outcome = try result.get()
        #expect(decoded == [UInt8](repeating: 0x61, count: 66560))
        #expect(outcome.decodedLength == 66560)
    }

    @Test("the documented signed upload with a CRC32C trailer decodes and verifies")
    func docsSignedTrailer() throws {
        let (decoded, result) = Self.decode(Self.docsBody(trailer: true), Self.docsExpectations(trailer: true))
        let outcome = try result.get()
        #expect(decoded.count == 66560)
        #expect(outcome.checksums.first?.algorithm == .crc32c)
        #expect(outcome.checksums.first?.base64 == "sOO8/Q==")
    }

    @Test("a flipped data byte fails that chunk's signature")
    func tamperedData() throws {
        let body = Self.docsBody(trailer: false) { $0[100] = 0x62 }
        #expect(Self.decode(body, Self.docsExpectations(trailer: false)).result.failure?.code == .signatureDoesNotMatch)
    }

    @Test("a flipped chunk signature, or a chunk without one, fails")
    func tamperedChunkSignature() throws {
        let flipped = Self.docsBody(trailer: false) { body in
            let i = body.firstIndex(of: UInt8(ascii: "="))! + 5
            body[i] = body[i] == 0x30 ? 0x31 : 0x30
        }
        #expect(Self.decode(flipped, Self.docsExpectations(trailer: false)).result.failure?.code == .signatureDoesNotMatch)
        var unsigned = Array("10\r\n".utf8) + [UInt8](repeating: 0x61, count: 16) + Array("\r\n0\r\n\r\n".utf8)
        #expect(Self.decode(unsigned, Self.docsExpectations(trailer: false)).result.failure?.code == .signatureDoesNotMatch)
        unsigned.removeAll()
    }

    @Test("a final chunk whose signature is wrong fails, though every data chunk was right")
    func tamperedFinalChunk() throws {
        let body = Self.docsBody(trailer: false) { body in
            let marker = Array("0;chunk-signature=".utf8)
            let start = (0..<body.count).last { body[$0..<min(body.count, $0 + marker.count)].elementsEqual(marker) }!
            body[start + marker.count] ^= 0x01
        }
        #expect(Self.decode(body, Self.docsExpectations(trailer: false)).result.failure?.code == .signatureDoesNotMatch)
    }

    @Test("a trailer whose checksum was altered fails the trailer signature")
    func tamperedTrailer() throws {
        let body = Self.docsBody(trailer: true) { body in
            let marker = Array("sOO8".utf8)
            let start = (0..<body.count).first { body[$0..<min(body.count, $0 + 4)].elementsEqual(marker) }!
            body[start] = UInt8(ascii: "t")
        }
        #expect(Self.decode(body, Self.docsExpectations(trailer: true)).result.failure?.code == .signatureDoesNotMatch)
    }

    // MARK: - Unsigned bodies with checksum trailers (boto3's default over https)

    static func unsignedBody(_ data: [UInt8], chunkSize: Int, trailer: String) -> [UInt8] {
        var body: [UInt8] = []
        var offset = 0
        while offset < data.count {
            let take = min(chunkSize, data.count - offset)
            body += Array(String(take, radix: 16).utf8) + [0x0D, 0x0A] + data[offset..<(offset + take)] + [0x0D, 0x0A]
            offset += take
        }
        body += Array("0\r\n\(trailer)\r\n\r\n".utf8)
        return body
    }

    static func unsignedExpectations(_ algorithm: ChecksumAlgorithm, length: Int64?) -> AWSChunkedDecoder.Expectations {
        AWSChunkedDecoder.Expectations(
            payload: .unsignedWithTrailer,
            seedSignature: "",
            signingKey: docsKey,
            timestamp: "20130524T000000Z",
            scope: docsScope,
            trailerChecksum: algorithm,
            decodedContentLength: length
        )
    }

    @Test("checksums match their published check values", arguments: [
        (ChecksumAlgorithm.crc32, "cbf43926"), (.crc32c, "e3069283"), (.crc64nvme, "ae8b14860a799888"),
        (.sha1, "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
        (.sha256, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
    ])
    func checkValues(algorithm: ChecksumAlgorithm, hex: String) {
        var whole = StreamingChecksum(algorithm)
        whole.update(Array("123456789".utf8))
        #expect(Hex.encode(whole.finalize()) == hex)
        var pieces = StreamingChecksum(algorithm)
        for byte in "123456789".utf8 { pieces.update([byte]) }
        #expect(pieces.finalize() == whole.finalize())
        var long = StreamingChecksum(algorithm)
        long.update([UInt8](repeating: 0x61, count: 66560))
        if algorithm == .crc32c { #expect(long.finalizeBase64() == "sOO8/Q==") }
    }

    @Test("an unsigned body with a matching trailer passes; a wrong one is BadDigest", arguments: ChecksumAlgorithm.allCases)
    func unsignedTrailer(_ algorithm: ChecksumAlgorithm) throws {
        let data = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var checksum = StreamingChecksum(algorithm)
        checksum.update(data)
        let good = Self.unsignedBody(data, chunkSize: 65536, trailer: "\(algorithm.headerName):\(checksum.finalizeBase64())")
        let (decoded, result) = Self.decode(good, Self.unsignedExpectations(algorithm, length: 70_000))
        #expect(decoded == data)
        #expect(try result.get().checksums.first?.base64 == checksum.finalizeBase64())

        var other = StreamingChecksum(algorithm)
        other.update([1, 2, 3])
        let bad = Self.unsignedBody(data, chunkSize: 65536, trailer: "\(algorithm.headerName):\(other.finalizeBase64())")
        let failure = Self.decode(bad, Self.unsignedExpectations(algorithm, length: 70_000)).result.failure
        #expect(failure?.code == .badDigest)
        #expect(failure?.httpStatus == 400)
    }

    @Test("a trailer that was not announced, a missing trailer, or a garbled value is refused")
    func trailerRules() throws {
        let data: [UInt8] = Array("hello".utf8)
        let other = Self.unsignedBody(data, chunkSize: 4, trailer: "x-amz-checksum-sha1:qvTGHdzF6KLavt4PO0gs2a6pQ00=")
        #expect(Self.decode(other, Self.unsignedExpectations(.crc32, length: 5)).result.failure?.code == .invalidRequest)
        var missing = Self.unsignedBody(data, chunkSize: 4, trailer: "")
        missing.removeLast(2)  // "0\r\n\r\n" and nothing else
        #expect(Self.decode(missing, Self.unsignedExpectations(.crc32, length: 5)).result.failure?.code == .invalidRequest)
        let garbled = Self.unsignedBody(data, chunkSize: 4, trailer: "x-amz-checksum-crc32:not base64!")
        #expect(Self.decode(garbled, Self.unsignedExpectations(.crc32, length: 5)).result.failure?.code == .invalidRequest)
    }

    @Test("a checksum sent as a header is checked against the decoded bytes")
    func headerChecksum() throws {
        var expectations = Self.docsExpectations(trailer: false)
        var crc = StreamingChecksum(.crc32)
        crc.update([UInt8](repeating: 0x61, count: 66560))
        expectations.headerChecksum = (.crc32, crc.finalizeBase64())
        _ = try Self.decode(Self.docsBody(trailer: false), expectations).result.get()
        expectations.headerChecksum = (.crc32, "AAAAAA==")
        #expect(Self.decode(Self.docsBody(trailer: false), expectations).result.failure?.code == .badDigest)
    }

    // MARK: - Malformed framing

    @Test(
        "malformed framing is IncompleteBody or InvalidRequest, never a crash",
        arguments: [
            ("zz\r\nabc\r\n0\r\n\r\n", S3Error.Code.incompleteBody),  // size not hex
            ("\r\n0\r\n\r\n", .incompleteBody),  // empty size
            ("3\nabc\r\n0\r\n\r\n", .incompleteBody),  // LF without CR
            ("3\r\nabcX\r\n0\r\n\r\n", .incompleteBody),  // data longer than its size
            ("3;foo=bar\r\nabc\r\n0\r\n\r\n", .incompleteBody),  // unknown extension
            ("3\r\nabc\r\n0\r\nx-amz-checksum-crc32\r\n\r\n", .incompleteBody),  // trailer without colon
            ("11111111111111111\r\n", .incompleteBody),  // 17 hex digits
            ("FFFFFFF\r\n", .invalidRequest),  // chunk above the limit
            ("3\r\nabc\r\n0\r\n\r\nEXTRA", .incompleteBody),  // bytes after the end
        ]
    )
    func malformed(body: String, code: S3Error.Code) {
        let result = Self.decode(Array(body.utf8), Self.unsignedExpectations(.crc32, length: nil)).result
        #expect(result.failure?.code == code, "\(body.debugDescription): \(String(describing: result.failure))")
    }

    @Test("a truncated body, at any point, is IncompleteBody at finish")
    func truncated() throws {
        let body = Self.docsBody(trailer: true)
        for cut in [0, 10, 90, 65_000, 66_700, body.count - 40, body.count - 1] {
            let result = Self.decode(Array(body[..<cut]), Self.docsExpectations(trailer: true)).result
            #expect(result.failure?.code == .incompleteBody, "cut at \(cut)")
        }
    }

    @Test("x-amz-decoded-content-length must equal the decoded size")
    func decodedLength() throws {
        var short = Self.docsExpectations(trailer: false)
        short.decodedContentLength = 66559
        #expect(Self.decode(Self.docsBody(trailer: false), short).result.failure?.code == .incompleteBody)
        var long = Self.docsExpectations(trailer: false)
        long.decodedContentLength = 70000
        #expect(Self.decode(Self.docsBody(trailer: false), long).result.failure?.code == .incompleteBody)
    }

    @Test("a line longer than the limit is refused without buffering it")
    func longLine() {
        let body = [UInt8](repeating: UInt8(ascii: "1"), count: 10) + [UInt8](repeating: UInt8(ascii: ";"), count: 5000)
        let result = Self.decode(body, Self.unsignedExpectations(.crc32, length: nil)).result
        #expect(result.failure?.code == .incompleteBody)
    }

    // MARK: - Expectations from headers

    @Test("expectations are read from the authenticated head's headers, and inconsistent ones are refused")
    func expectationsFromHeaders() throws {
        let example = S3ExamplesTests.cases.first { $0.id == "s3-chunked-put-object-trailer" }!
        let auth = try example.verifier.authenticate(example.head, now: example.now)
        let expectations = try AWSChunkedDecoder.Expectations(request: auth, headers: example.head.headers)
        #expect(expectations.trailerChecksum == .crc32c)
        #expect(expectations.decodedContentLength == 66560)
        _ = try Self.decode(Self.docsBody(trailer: true), expectations).result.get()

        var headers = example.head.headers
        headers.removeAll { $0.name == "x-amz-trailer" }
        #expect(throws: S3Error.self) { try AWSChunkedDecoder.Expectations(request: auth, headers: headers) }
        headers = example.head.headers.map { $0.name == "x-amz-trailer" ? ($0.name, "x-amz-meta-foo") : $0 }
        #expect(throws: S3Error.self) { try AWSChunkedDecoder.Expectations(request: auth, headers: headers) }
        headers = example.head.headers.filter { $0.name != "x-amz-decoded-content-length" }
        let missing = #expect(throws: S3Error.self) { try AWSChunkedDecoder.Expectations(request: auth, headers: headers) }
        #expect(missing?.code == .missingContentLength)
    }

    // MARK: - botocore as an independent encoder

    @Test("bodies encoded by botocore decode to their data with verified trailers", .enabled(if: Boto3.available || Boto3.required))
    func botocoreBodies() throws {
        struct Output: Decodable {
            struct Body: Decodable { var algorithm: String; var data: String; var body: String }
            var algorithms: [String]
            var bodies: [Body]
        }
        let script = Boto3.script.deletingLastPathComponent().appendingPathComponent("botocore-aws-chunked.py")
        let output = try JSONDecoder().decode(Output.self, from: try Boto3.runScript(script, arguments: ["--seed", "5", "--count", "30"]))
        #expect(output.bodies.count == 30)
        if Boto3.required {
            // .ci/run installs awscrt, so CI cross-checks CRC32C and CRC64NVME too.
            #expect(output.algorithms == ChecksumAlgorithm.allCases.map(\.rawValue).sorted())
        }
        for (i, item) in output.bodies.enumerated() {
            let algorithm = try #require(ChecksumAlgorithm(rawValue: item.algorithm))
            let data = Array(Data(base64Encoded: item.data)!)
            let body = Array(Data(base64Encoded: item.body)!)
            let (decoded, result) = Self.decode(
                body,
                Self.unsignedExpectations(algorithm, length: Int64(data.count)),
                seed: UInt64(i)
            )
            #expect(decoded == data, "\(item.algorithm) body \(i)")
            #expect((try? result.get()) != nil, "\(item.algorithm) body \(i): \(String(describing: result.failure))")
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

@Suite("x-amz-checksum-* headers")
struct ChecksumHeaderTests {
    @Test("one well-formed checksum header is found; several, or a malformed value, are InvalidRequest")
    func find() throws {
        let found = try ChecksumHeader.find(in: [("Host", "h"), ("X-Amz-Checksum-CRC32", " AAAAAA== ")])
        #expect(found?.algorithm == .crc32)
        #expect(found?.base64 == "AAAAAA==")
        #expect(try ChecksumHeader.find(in: [("Host", "h")]) == nil)
        for headers: [(name: String, value: String)] in [
            [("x-amz-checksum-crc32", "AAAAAA=="), ("x-amz-checksum-sha1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
            [("x-amz-checksum-crc32", "not base64")],
            [("x-amz-checksum-sha256", "AAAAAA==")],  // right base64, wrong size
        ] {
            let error = #expect(throws: S3Error.self) { try ChecksumHeader.find(in: headers) }
            #expect(error?.code == .invalidRequest)
        }
    }
}
