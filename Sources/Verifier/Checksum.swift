import Crypto
import Foundation

/// The checksum algorithms S3 accepts in `x-amz-checksum-*` headers and trailers.
public enum ChecksumAlgorithm: String, Sendable, Hashable, CaseIterable {
    case crc32
    case crc32c
    case crc64nvme
    case sha1
    case sha256

    /// `x-amz-checksum-crc32`, …
    public var headerName: String { "x-amz-checksum-" + rawValue }

    /// The name S3 uses in messages: `CRC32`, `CRC64NVME`, `SHA256`, …
    public var displayName: String { rawValue.uppercased() }

    /// The algorithm of a lower-case `x-amz-checksum-*` header name.
    public init?(headerName: String) {
        guard headerName.hasPrefix("x-amz-checksum-") else { return nil }
        self.init(rawValue: String(headerName.dropFirst("x-amz-checksum-".count)))
    }

    /// The size of the raw checksum: what a well-formed base64 value must decode to.
    public var byteCount: Int {
        switch self {
        case .crc32, .crc32c: 4
        case .crc64nvme: 8
        case .sha1: 20
        case .sha256: 32
        }
    }
}

/// A running checksum over streamed bytes, finished as the base64 text S3 puts in its headers.
public struct StreamingChecksum {
    private enum State {
        case crc32(UInt32, CRCTable32)
        case crc64(UInt64)
        case sha1(Insecure.SHA1)
        case sha256(SHA256)
    }

    public let algorithm: ChecksumAlgorithm
    private var state: State

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .crc32: state = .crc32(0xFFFF_FFFF, .crc32)
        case .crc32c: state = .crc32(0xFFFF_FFFF, .crc32c)
        case .crc64nvme: state = .crc64(~0)
        case .sha1: state = .sha1(Insecure.SHA1())
        case .sha256: state = .sha256(SHA256())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .crc32(let crc, let table):
            state = .crc32(table.update(crc, bytes), table)
        case .crc64(let crc):
            state = .crc64(CRC64NVME.update(crc, bytes))
        case .sha1(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha1(hash)
        case .sha256(var hash):
            hash.update(bufferPointer: bytes)
            state = .sha256(hash)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The raw checksum bytes (big-endian for the CRCs, as S3 encodes them).
    public func finalize() -> [UInt8] {
        switch state {
        case .crc32(let crc, _):
            let value = ~crc
            return [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        case .crc64(let crc):
            let value = ~crc
            return (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) }
        case .sha1(let hash):
            return Array(hash.finalize())
        case .sha256(let hash):
            return Array(hash.finalize())
        }
    }

    /// The checksum as S3 sends it: base64 of the raw bytes.
    public func finalizeBase64() -> String {
        Data(finalize()).base64EncodedString()
    }
}

// MARK: - CRC tables
//
// CRCs are checksums, not cryptography, and swift-crypto has none; these are the standard reflected,
// table-driven forms, eight bytes a step ("slicing-by-8") so a checksum keeps up with a fast upload.

/// The eight lookup tables of a reflected CRC, one after the other (table k at `k * 256`): table 0 is the
/// classic byte-at-a-time table, table k the CRC of a byte followed by k zero bytes.
private func slicingTables<T: FixedWidthInteger & UnsignedInteger>(polynomial: T) -> [T] {
    var tables = [T](repeating: 0, count: 8 * 256)
    for i in 0..<256 {
        var c = T(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
        tables[i] = c
    }
    for k in 1..<8 {
        for i in 0..<256 {
            let previous = tables[(k - 1) * 256 + i]
            tables[k * 256 + i] = (previous >> 8) ^ tables[Int(truncatingIfNeeded: previous & 0xFF)]
        }
    }
    return tables
}

/// A reflected 32-bit CRC with its slicing-by-8 tables.
final class CRCTable32: Sendable {
    static let crc32 = CRCTable32(polynomial: 0xEDB8_8320)
    static let crc32c = CRCTable32(polynomial: 0x82F6_3B78)

    /// Eight tables of 256 entries, one after the other: table k at `k * 256`.
    private let tables: [UInt32]

    private init(polynomial: UInt32) {
        tables = slicingTables(polynomial: polynomial)
    }

    func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        let n = bytes.count
        return tables.withUnsafeBufferPointer { table in
            // The hot loop reads tables and input through unchecked pointers: indices are masked to 0...255
            // within each 256-entry table, and the input offsets stay below `n`.
            let t = table.baseAddress!
            var crc = crc
            var i = 0
            while i + 8 <= n {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                let lo = crc ^ UInt32(truncatingIfNeeded: word)
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                crc = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int(lo >> 8 & 0xFF)]
                    ^ t[5 * 256 + Int(lo >> 16 & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int(hi >> 8 & 0xFF)]
                    ^ t[1 * 256 + Int(hi >> 16 & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(bytes[i])) & 0xFF)]
                i += 1
            }
            return crc
        }
    }
}

/// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), the checksum S3 calls CRC64NVME.
enum CRC64NVME {
    /// Eight tables of 256 entries, one after the other.
    private static let tables: [UInt64] = slicingTables(polynomial: 0x9A6C_9329_AC4B_C9B5)

    static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return crc }
        let n = bytes.count
        return tables.withUnsafeBufferPointer { table in
            let t = table.baseAddress!
            var crc = crc
            var i = 0
            while i + 8 <= n {
                let x = crc ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
                crc = t[7 * 256 + Int(x & 0xFF)] ^ t[6 * 256 + Int(x >> 8 & 0xFF)]
                    ^ t[5 * 256 + Int(x >> 16 & 0xFF)] ^ t[4 * 256 + Int(x >> 24 & 0xFF)]
                    ^ t[3 * 256 + Int(x >> 32 & 0xFF)] ^ t[2 * 256 + Int(x >> 40 & 0xFF)]
                    ^ t[1 * 256 + Int(x >> 48 & 0xFF)] ^ t[Int(x >> 56)]
                i += 8
            }
            while i < n {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt64(bytes[i])) & 0xFF)]
                i += 1
            }
            return crc
        }
    }
}
