// MARK: - Table-driven reflected CRCs
//
// CRCs are checksums, not cryptography, and swift-crypto has none. The aws-chunked trailer path runs one
// over every uploaded byte on the event loop, so it has to be fast, in plain Swift (no C target, no
// carry-less multiply instructions):
//
// - Slicing-by-16: sixteen 256-entry tables, sixteen input bytes a step. A step's table lookups are
//   independent loads; only the lookups of the first 4 (CRC32) or 8 (CRC64) bytes wait for the running
//   CRC, and those are XORed in last, so most of a step's work overlaps the previous one.
// - Two lanes: a buffer is cut into blocks of two adjacent 1 KiB halves, each half with its own CRC
//   register, both computed in one loop. Two independent dependency chains keep the load ports busy
//   where a single chain would wait on load latency (zlib's "braided" CRC gets its speed the same way).
//   A CRC register is linear, so crc(A ‖ B) = advance(crc(A), |B| zero bytes) ⊕ crc_from_zero(B); advancing
//   by the fixed half size is itself a linear map, tabulated once per nibble of the register.
//
// Everything else (short inputs, the tail under 2 KiB) goes through the same 16-byte step, then byte at a
// time. The tables take 16 KiB (32-bit) or 32 KiB (64-bit) plus a 512-byte or 2 KiB advance table.

/// A reflected CRC of 32 or 64 bits (no final XOR or reflection here: callers own init and finish).
struct ReflectedCRC<Value: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// Bytes per lane: how far the first lane's register is advanced to line up with the second's.
    static var laneBytes: Int { 1024 }

    /// Sixteen slicing tables (table k at `k * 256`: the register after a byte followed by k zero bytes),
    /// then the advance table (`Value.bitWidth / 4` groups of 16 at `16 * 256`).
    private let tables: [Value]

    init(polynomial: Value) {
        var tables = [Value](repeating: 0, count: 16 * 256 + Value.bitWidth / 4 * 16)
        for i in 0..<256 {
            var c = Value(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ polynomial : c >> 1 }
            tables[i] = c
        }
        for k in 1..<16 {
            for i in 0..<256 {
                let previous = tables[(k - 1) * 256 + i]
                tables[k * 256 + i] = (previous >> 8) ^ tables[Int(truncatingIfNeeded: previous & 0xFF)]
            }
        }
        // Advancing over laneBytes zero bytes is linear in the register: advance each single bit with the
        // byte table, then each nibble group's entry is the XOR of its bits' images.
        let bitImages = (0..<Value.bitWidth).map { bit in
            var c = Value(1) << bit
            for _ in 0..<Self.laneBytes { c = (c >> 8) ^ tables[Int(truncatingIfNeeded: c & 0xFF)] }
            return c
        }
        for group in 0..<Value.bitWidth / 4 {
            for nibble in 0..<16 {
                var image: Value = 0
                for bit in 0..<4 where nibble >> bit & 1 != 0 { image ^= bitImages[4 * group + bit] }
                tables[16 * 256 + group * 16 + nibble] = image
            }
        }
        self.tables = tables
    }

    /// The register after `bytes`, starting from `crc`.
    func update(_ crc: Value, _ bytes: UnsafeRawBufferPointer) -> Value {
        guard let base = bytes.baseAddress else { return crc }
        let n = bytes.count
        let lane = Self.laneBytes
        return tables.withUnsafeBufferPointer { buffer in
            // The loops read tables and input through unchecked pointers: table indices are masked to
            // 0...255 (or 0...15) within their table, and every input read stays below `n`.
            let t = buffer.baseAddress!
            var crc = crc
            var i = 0
            while n &- i >= 2 &* lane {
                var first = crc
                var second: Value = 0
                var j = i
                let end = i &+ lane
                while j < end {
                    first = Self.step(first, base + j, t)
                    second = Self.step(second, base + (j &+ lane), t)
                    j &+= 16
                }
                crc = Self.advance(first, t + 16 * 256) ^ second
                i &+= 2 &* lane
            }
            while n &- i >= 16 {
                crc = Self.step(crc, base + i, t)
                i &+= 16
            }
            while i < n {
                let byte = Value(base.load(fromByteOffset: i, as: UInt8.self))
                crc = (crc >> 8) ^ t[Int(truncatingIfNeeded: (crc ^ byte) & 0xFF)]
                i &+= 1
            }
            return crc
        }
    }

    /// Sixteen bytes at `p` into the register `crc`.
    @inline(__always)
    private static func step(_ crc: Value, _ p: UnsafeRawPointer, _ t: UnsafePointer<Value>) -> Value {
        // The register covers the first 4 or 8 bytes (for 32 bits, `crc >> 32` is 0).
        let a = p.loadUnaligned(as: UInt32.self).littleEndian ^ UInt32(truncatingIfNeeded: crc)
        let b = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian ^ UInt32(truncatingIfNeeded: crc >> 32)
        let c = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian
        let d = p.loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian
        // Bytes that do not depend on the register first, so their lookups need not wait for it.
        let independent = lookup(d, t, 0) ^ lookup(c, t, 4)
        return independent ^ (lookup(b, t, 8) ^ lookup(a, t, 12))
    }

    /// The four bytes of `word` through tables `k + 3` (its first byte, furthest from the end) down to `k`.
    @inline(__always)
    private static func lookup(_ word: UInt32, _ t: UnsafePointer<Value>, _ k: Int) -> Value {
        t[(k + 3) * 256 + Int(word & 0xFF)] ^ t[(k + 2) * 256 + Int(word >> 8 & 0xFF)]
            ^ t[(k + 1) * 256 + Int(word >> 16 & 0xFF)] ^ t[k * 256 + Int(word >> 24)]
    }

    /// The register `crc` advanced over `laneBytes` zero bytes, one lookup per nibble.
    @inline(__always)
    private static func advance(_ crc: Value, _ table: UnsafePointer<Value>) -> Value {
        var image: Value = 0
        var group = 0
        while group < Value.bitWidth / 4 {
            image ^= table[group &* 16 &+ Int(truncatingIfNeeded: crc >> (4 &* group) & 0xF)]
            group &+= 1
        }
        return image
    }
}
