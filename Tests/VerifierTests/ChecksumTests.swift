import Foundation
import Testing

@testable import Verifier

/// The CRCs' fast table-driven path (slicing-by-16 over two lanes) against a plain bit-at-a-time CRC
/// written here, over random data: every length around the step and lane boundaries, unaligned starts,
/// and the same bytes fed in random pieces.
@Suite("CRC checksums")
struct ChecksumTests {
    static let crcs: [ChecksumAlgorithm] = [.crc32, .crc32c, .crc64nvme]

    /// Lengths 0...300 cover the byte loop and every 16-byte step remainder; the rest straddle the
    /// 2 KiB two-lane blocks, and the large ones are the sizes the trailer path sees.
    static let lengths = Array(0...300) + [2047, 2048, 2049, 4095, 4096 + 15, 6144 + 7, 65536 + 13, 1 << 20]

    /// The reflected CRC computed one bit at a time, init all ones, final XOR all ones, big-endian bytes.
    static func reference(_ algorithm: ChecksumAlgorithm, _ bytes: some Sequence<UInt8>) -> [UInt8] {
        func crc<T: FixedWidthInteger & UnsignedInteger>(_ polynomial: T) -> [UInt8] {
            var register = ~T(0)
            for byte in bytes {
                register ^= T(byte)
                for _ in 0..<8 { register = register & 1 == 1 ? (register >> 1) ^ polynomial : register >> 1 }
            }
            let value = ~register
            return (0..<T.bitWidth / 8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
        switch algorithm {
        case .crc32: return crc(UInt32(0xEDB8_8320))
        case .crc32c: return crc(UInt32(0x82F6_3B78))
        case .crc64nvme: return crc(UInt64(0x9A6C_9329_AC4B_C9B5))
        default: fatalError("not a CRC: \(algorithm)")
        }
    }

    static func randomBytes(_ count: Int, using rng: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    @Test("the bit-at-a-time reference gives the published check values")
    func referenceCheckValues() {
        let check = Array("123456789".utf8)
        #expect(Hex.encode(Self.reference(.crc32, check)) == "cbf43926")
        #expect(Hex.encode(Self.reference(.crc32c, check)) == "e3069283")
        #expect(Hex.encode(Self.reference(.crc64nvme, check)) == "ae8b14860a799888")
    }

    @Test("one update over any length and start offset equals the bit-at-a-time CRC", arguments: crcs)
    func wholeBufferMatchesReference(_ algorithm: ChecksumAlgorithm) {
        var rng = SplitMix64(seed: 0xC4C_0001)
        // Extra room so that each buffer can start at any offset within 16 bytes of an aligned address.
        let pool = Self.randomBytes((1 << 20) + 16, using: &rng)
        pool.withUnsafeBytes { raw in
            for length in Self.lengths {
                let offset = Int.random(in: 0..<16, using: &rng)
                let bytes = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + length])
                var checksum = StreamingChecksum(algorithm)
                checksum.update(bytes)
                #expect(
                    checksum.finalize() == Self.reference(algorithm, bytes),
                    "\(algorithm.displayName), \(length) bytes at offset \(offset)"
                )
            }
        }
    }

    @Test("the same bytes fed in random pieces give the result of one update", arguments: crcs)
    func piecesMatchWhole(_ algorithm: ChecksumAlgorithm) {
        var rng = SplitMix64(seed: 0xC4C_0002)
        for length in Self.lengths {
            let data = Self.randomBytes(length, using: &rng)
            var whole = StreamingChecksum(algorithm)
            whole.update(data)
            // Pieces up to a few lane blocks long, some empty, so splits fall inside steps and blocks.
            let largest = Int.random(in: 1...(length < 4096 ? 64 : 9000), using: &rng)
            var pieces = StreamingChecksum(algorithm)
            var start = 0
            var splits: [Int] = []
            while start < length {
                let end = min(length, start + Int.random(in: 0...largest, using: &rng))
                pieces.update(Array(data[start..<end]))
                splits.append(end)
                start = end
            }
            #expect(
                pieces.finalize() == whole.finalize(),
                "\(algorithm.displayName), \(length) bytes split at \(splits.prefix(20))"
            )
        }
    }
}
