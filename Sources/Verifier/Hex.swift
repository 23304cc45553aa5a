/// Lower-case hex encoding and constant-time comparison helpers.
package enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        append(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the lower-case hex digits of `bytes`.
    package static func append(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        digits.withUnsafeBufferPointer { digits in
            for b in bytes {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 0x0F)])
            }
        }
    }

    /// Decodes hex (either case); `nil` if any character is not a hex digit or the length is odd.
    package static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let h = URIEncoding.hexValue(utf8[i]), let l = URIEncoding.hexValue(utf8[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    /// S3's `StringToSignBytes` form: each byte as two hex digits, separated by spaces.
    package static func spaced(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for b in bytes {
            if !out.isEmpty { out.append(0x20) }
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Compares two byte sequences in time that depends only on their lengths, never on where they differ.
public func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for (x, y) in zip(a, b) {
        difference |= x ^ y
    }
    return difference == 0
}

/// `constantTimeEquals` for two contiguous buffers, the fast path used per request.
package func constantTimeEquals(_ a: [UInt8], _ b: String) -> Bool {
    var b = b
    return b.withUTF8 { b in
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count {
            difference |= a[i] ^ b[i]
        }
        return difference == 0
    }
}
