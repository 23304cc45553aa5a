import Crypto
import Foundation
import Testing

@testable import Verifier

/// aws-chunked decoding with the hashing left to the caller: the decoder frames and reports each chunk's
/// check; `verifyChunk` and `verifyChecksum` settle them apart, in any order.
@Suite("aws-chunked deferred checks")
struct DeferredChunkCheckTests {
    typealias Docs = AWSChunkedDecoderTests

    /// Decodes in deferred mode: the data of each chunk and its check, in stream order.
    static func frame(
        _ body: [UInt8],
        _ expectations: AWSChunkedDecoder.Expectations,
        pieceSize: Int = 7000
    ) throws(S3Error) -> (chunks: [(data: [UInt8], check: AWSChunkedDecoder.ChunkCheck?)], outcome: AWSChunkedDecoder.Outcome) {
        var decoder = AWSChunkedDecoder(expectations, deferHashing: true)
        var chunks: [(data: [UInt8], check: AWSChunkedDecoder.ChunkCheck?)] = [([], nil)]
        var offset = 0
        while offset < body.count {
            let piece = Array(body[offset..<min(body.count, offset + pieceSize)])
            offset += pieceSize
            let result: Result<Void, S3Error> = piece.withUnsafeBytes { raw in
                Result { () throws(S3Error) in
                    try decoder.consume(raw, events: { event in
                        switch event {
                        case .data(let slice): chunks[chunks.count - 1].data += slice
                        case .chunkEnd(let check):
                            chunks[chunks.count - 1].check = check
                            chunks.append(([], nil))
                        }
                    })
                }
            }
            try result.get()
        }
        return (chunks, try decoder.finish())
    }

    @Test("the S3 docs' chunk signatures verify one by one from the data's SHA-256, the seed first")
    func docsVectors() throws {
        let expectations = Docs.docsExpectations(trailer: false)
        let seed = expectations.seedSignature
        let signatures = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ]
        let data: [[UInt8]] = [[UInt8](repeating: 0x61, count: 65536), [UInt8](repeating: 0x61, count: 1024), []]
        var previous = seed
        for (signature, bytes) in zip(signatures, data) {
            let check = AWSChunkedDecoder.ChunkCheck(previousSignature: previous, providedSignature: signature)
            try AWSChunkedDecoder.verifyChunk(check, dataHash: SHA256.hash(data: bytes), expectations: expectations)
            previous = signature
        }
        // The right signature over the wrong data, or chained from the wrong predecessor, fails.
        let first = AWSChunkedDecoder.ChunkCheck(previousSignature: seed, providedSignature: signatures[0])
        #expect(throws: S3Error.self) {
            try AWSChunkedDecoder.verifyChunk(first, dataHash: SHA256.hash(data: data[1]), expectations: expectations)
        }
        let misChained = AWSChunkedDecoder.ChunkCheck(previousSignature: seed, providedSignature: signatures[1])
        let error = #expect(throws: S3Error.self) {
            try AWSChunkedDecoder.verifyChunk(misChained, dataHash: SHA256.hash(data: data[1]), expectations: expectations)
        }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    @Test("deferred framing reports every chunk's check; they verify in reverse order as well", arguments: [false, true])
    func outOfOrder(trailer: Bool) throws {
        let expectations = Docs.docsExpectations(trailer: trailer)
        let (chunks, outcome) = try Self.frame(Docs.docsBody(trailer: trailer), expectations)
        let checked = chunks.filter { $0.check != nil }
        #expect(checked.map { $0.data.count } == [65536, 1024, 0])
        #expect(checked.first?.check?.previousSignature == expectations.seedSignature)
        for chunk in checked.reversed() {
            try AWSChunkedDecoder.verifyChunk(chunk.check!, dataHash: SHA256.hash(data: chunk.data), expectations: expectations)
        }
        // The checksum is left to the caller, with the value the client sent.
        #expect(outcome.checksums.isEmpty)
        #expect(outcome.unverifiedChecksums.map { $0.algorithm } == (trailer ? [.crc32c] : []))
        if trailer {
            var crc = StreamingChecksum(.crc32c)
            crc.update(checked.flatMap { $0.data })
            try AWSChunkedDecoder.verifyChecksum(crc, provided: outcome.unverifiedChecksums[0].base64)
        }
    }

    @Test("a forged data byte in the middle passes deferred framing but fails its own chunk's check only")
    func forgedMiddleChunk() throws {
        let expectations = Docs.docsExpectations(trailer: false)
        let body = Docs.docsBody(trailer: false) { $0[90 + 30_000] ^= 0x01 }
        let (chunks, _) = try Self.frame(body, expectations)
        let results = chunks.filter { $0.check != nil }.map { chunk in
            Result { () throws(S3Error) in
                try AWSChunkedDecoder.verifyChunk(chunk.check!, dataHash: SHA256.hash(data: chunk.data), expectations: expectations)
            }
        }
        #expect(results.map { (try? $0.get()) != nil } == [false, true, true])
    }

    @Test("deferred framing still checks the trailer signature and refuses a forged trailer")
    func forgedTrailer() throws {
        let expectations = Docs.docsExpectations(trailer: true)
        let body = Docs.docsBody(trailer: true) { body in
            let text = Array("sOO8/Q==".utf8)
            let at = (0...(body.count - text.count)).first { Array(body[$0..<($0 + text.count)]) == text }!
            body[at] = UInt8(ascii: "t")
        }
        let error = #expect(throws: S3Error.self) { try Self.frame(body, expectations) }
        #expect(error?.code == .signatureDoesNotMatch)
    }

    @Test("a deferred checksum that differs is BadDigest; a malformed one InvalidRequest", arguments: ChecksumAlgorithm.allCases)
    func deferredChecksum(_ algorithm: ChecksumAlgorithm) throws {
        let data = Array("123456789".utf8)
        var good = StreamingChecksum(algorithm)
        good.update(data)
        let value = good.finalizeBase64()
        let body = Docs.unsignedBody(data, chunkSize: 4, trailer: "\(algorithm.headerName):\(value)")
        let (chunks, outcome) = try Self.frame(body, Docs.unsignedExpectations(algorithm, length: 9), pieceSize: 5)
        #expect(chunks.flatMap { $0.data } == data)
        #expect(chunks.allSatisfy { $0.check == nil })
        #expect(outcome.unverifiedChecksums.map { $0.base64 } == [value])
        try AWSChunkedDecoder.verifyChecksum(good, provided: value)
        var other = StreamingChecksum(algorithm)
        other.update(Array("12345678X".utf8))
        #expect((#expect(throws: S3Error.self) { try AWSChunkedDecoder.verifyChecksum(other, provided: value) })?.code == .badDigest)
        #expect((#expect(throws: S3Error.self) { try AWSChunkedDecoder.verifyChecksum(good, provided: "@@") })?.code == .invalidRequest)
    }
}
