/// Percent-encoding as SigV4 defines it for S3: every byte except the RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) becomes `%XY` with upper-case hex.
package enum URIEncoding {
    @inline(__always)
    package static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
            || c == 0x2D || c == 0x5F || c == 0x2E || c == 0x7E
    }

    @inline(__always)
    private static func upperHexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10
    }

    @inline(__always)
    package static func appendEncoded(_ c: UInt8, to out: inout [UInt8]) {
        if isUnreserved(c) {
            out.append(c)
        } else {
            out.append(0x25)
            out.append(upperHexDigit(c >> 4))
            out.append(upperHexDigit(c & 0x0F))
        }
    }

    @inline(__always)
    package static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    /// Appends the canonical URI of a raw request path: each byte encoded once, `/` kept as the
    /// separator, percent-escapes decoded first so that `$` and `%24` both become `%24`. An escaped
    /// slash (`%2F`) stays `%2F`: it is part of a key, not a separator. Nothing is normalized: `//`,
    /// `./` and `../` stay as sent, because S3 keys may contain them.
    ///
    /// Returns `false` for a malformed escape (`%` not followed by two hex digits): such a path has no
    /// unambiguous meaning, and a backend might read it differently from the verifier.
    package static func appendCanonicalPath(_ path: Substring, to out: inout [UInt8]) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            if bytes.isEmpty {
                out.append(0x2F)
                return true
            }
            var i = 0
            while i < bytes.count {
                let c = bytes[i]
                if c == 0x25 {
                    guard i + 2 < bytes.count, let hv = hexValue(bytes[i + 1]), let lv = hexValue(bytes[i + 2]) else {
                        return false
                    }
                    appendEncoded(hv << 4 | lv, to: &out)
                    i += 3
                } else {
                    if c == 0x2F { out.append(c) } else { appendEncoded(c, to: &out) }
                    i += 1
                }
            }
            return true
        }
    }

    /// Decodes a query component: `%XY` escapes, and `+` as a space (form encoding, as S3 reads a query).
    /// Returns `nil` for a malformed escape.
    package static func decodeQueryComponent(_ bytes: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        decode(bytes, plusAsSpace: true)
    }

    /// Percent-decodes bytes: `%XY` escapes, and with `plusAsSpace` (a query component) `+` as a space.
    /// Returns `nil` for a malformed escape (`%` not followed by two hex digits): such a component has no one
    /// meaning, and two readers might take it differently.
    @inline(__always)
    package static func decode(_ bytes: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case 0x25:
                guard i + 2 < bytes.count, let hv = hexValue(bytes[i + 1]), let lv = hexValue(bytes[i + 2]) else {
                    return nil
                }
                out.append(hv << 4 | lv)
                i += 3
                continue
            case 0x2B where plusAsSpace:
                out.append(0x20)
            default:
                out.append(c)
            }
            i += 1
        }
        return out
    }

    /// Percent-decodes a path segment (or, with `plusAsSpace`, a query component) to text. Returns `nil` for a
    /// malformed escape or a result that is not UTF-8, so a bad request is refused rather than altered.
    package static func decode(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String? {
        var text = String(text)
        let bytes = text.withUTF8 { decode($0, plusAsSpace: plusAsSpace) }
        return bytes.flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// Encodes text as S3 does for `encoding-type=url` listings and `Location` values: every byte but the
    /// unreserved characters as `%XY`, and `/` kept as it is when `keepSlash`.
    package static func encode(_ text: some StringProtocol, keepSlash: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for c in text.utf8 {
            if keepSlash && c == 0x2F { out.append(c) } else { appendEncoded(c, to: &out) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes decoded bytes for the canonical query.
    package static func encode(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.allSatisfy(isUnreserved) { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        for b in bytes { appendEncoded(b, to: &out) }
        return out
    }
}
