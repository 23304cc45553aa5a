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

// MARK: - CRCs
//
// The standard reflected CRCs; the table-driven engine and why it is shaped the way it is are in
// ReflectedCRC.swift.

/// A reflected 32-bit CRC (CRC32, CRC32C) with its tables, built on first use.
final class CRCTable32: Sendable {
    static let crc32 = CRCTable32(polynomial: 0xEDB8_8320)
    static let crc32c = CRCTable32(polynomial: 0x82F6_3B78)

    private let crc: ReflectedCRC<UInt32>

    private init(polynomial: UInt32) {
        crc = ReflectedCRC(polynomial: polynomial)
    }

    func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        self.crc.update(crc, bytes)
    }
}

/// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), the checksum S3 calls CRC64NVME.
enum CRC64NVME {
    private static let crc = ReflectedCRC<UInt64>(polynomial: 0x9A6C_9329_AC4B_C9B5)

    static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        Self.crc.update(crc, bytes)
    }
}
