import NIOCore
import Verifier

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An incremental `multipart/form-data` parser for browser form uploads (S3 POST Object), pulled one event
/// at a time so the caller can stop where the file's data begins: the fields before it are checked, and
/// an upstream request opened, before any file byte goes anywhere.
///
/// The fields before the file are held in memory, bounded in total by `maxFieldBytes` (every byte before
/// the file's data counts: preamble, part headers, values). The file's data is handed out as slices of the
/// input as it arrives; at most a delimiter's length of it is held back at a time, in case it is the start
/// of the closing delimiter. Parts after the file are parsed for structure and otherwise ignored, as S3
/// ignores them. vapor/multipart-kit's callback parser was considered: it consumes whole buffers, so it
/// could not pause at the file (before verification) nor tell where the file's data starts in the body.
struct MultipartFormParser {
    enum Event: Equatable {
        /// A field before the file: name as sent, value as UTF-8.
        case field(name: String, value: String)
        /// The file part's headers are complete; its data follows. `offset` is the number of body bytes
        /// before the first data byte.
        case fileStart(filename: String?, contentType: String?, offset: Int64)
        /// File data, in order.
        case fileData(ByteBuffer)
        /// The file's data is complete.
        case fileEnd
        /// The closing delimiter: the form is complete (anything after it is ignored).
        case end
    }

    private enum State {
        /// Before the first delimiter (a preamble is allowed and ignored).
        case preamble
        /// After a delimiter: `--` closes the form, CRLF starts a part.
        case afterDelimiter
        /// Reading a part's header lines.
        case headers
        /// Reading a field's value (kept) or, after the file, an ignored part's body (dropped).
        case value
        case fileData
        case done
    }

    /// The multipart boundary, from the request's `Content-Type`.
    let boundary: [UInt8]
    /// The most body bytes before the file's data (S3 allows 20 KB of fields).
    let maxFieldBytes: Int
    /// `CRLF--boundary`: what ends every part's content.
    private let delimiter: [UInt8]
    private var state = State.preamble
    /// Bytes received but not yet parsed: never more than `maxFieldBytes` plus a delimiter before the file,
    /// and less than a delimiter while the file streams (unless the caller stops pulling).
    private var window: ByteBuffer
    /// Body bytes parsed so far (the window's position in the body).
    private var consumed: Int64 = 0
    private var partName: String?
    private var partFilename: String?
    private var partContentType: String?
    private var inFile = false
    private(set) var sawFile = false
    private(set) var finished = false

    init(boundary: String, maxFieldBytes: Int = 20 * 1024) {
        self.boundary = Array(boundary.utf8)
        self.maxFieldBytes = maxFieldBytes
        self.delimiter = Array("\r\n--".utf8) + self.boundary
        self.window = ByteBuffer()
    }

    /// Adds received body bytes; pull the events with `next()`.
    mutating func append(_ bytes: ByteBuffer) {
        if window.readableBytes == 0 {
            window = bytes
        } else {
            var bytes = bytes
            window.writeBuffer(&bytes)
        }
    }

    /// Takes the bytes received but not parsed yet (to hand them on after a pause).
    mutating func takeUnparsed() -> ByteBuffer {
        let rest = window
        window = ByteBuffer()
        return rest
    }

    /// The next event, or `nil` when more bytes are needed.
    mutating func next() throws(S3Error) -> Event? {
        while true {
            switch state {
            case .done:
                // The epilogue (normally a lone CRLF) is ignored.
                consumed += Int64(window.readableBytes)
                window.moveReaderIndex(forwardBy: window.readableBytes)
                return nil
            case .preamble:
                // The body normally starts with `--boundary`; with a preamble, the delimiter follows a CRLF.
                let opening = Array(delimiter.dropFirst(2))
                if startsWith(opening) {
                    skip(opening.count)
                    state = .afterDelimiter
                    continue
                }
                guard let at = find(delimiter) else {
                    try checkFieldBound(pending: window.readableBytes)
                    return nil
                }
                skip(at + delimiter.count)
                state = .afterDelimiter
            case .afterDelimiter:
                guard window.readableBytes >= 2 else { return nil }
                let two = window.getBytes(at: window.readerIndex, length: 2)!
                if two == [UInt8(ascii: "-"), UInt8(ascii: "-")] {
                    skip(2)
                    state = .done
                    finished = true
                    return .end
                }
                // RFC 2046 allows transport padding (spaces, tabs) before the CRLF.
                guard let lineEnd = find(Array("\r\n".utf8)) else {
                    try checkFieldBound(pending: window.readableBytes)
                    return nil
                }
                let padding = window.getBytes(at: window.readerIndex, length: lineEnd)!
                guard padding.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else {
                    throw Self.malformed
                }
                skip(lineEnd + 2)
                partName = nil
                partFilename = nil
                partContentType = nil
                state = .headers
            case .headers:
                guard let lineEnd = find(Array("\r\n".utf8)) else {
                    try checkFieldBound(pending: window.readableBytes)
                    return nil
                }
                let line = window.getBytes(at: window.readerIndex, length: lineEnd)!
                try checkFieldBound(pending: lineEnd + 2)
                skip(lineEnd + 2)
                if !line.isEmpty {
                    try readHeader(line)
                    continue
                }
                guard let name = partName else {
                    throw S3Error(.malformedPOSTRequest, Self.malformedMessage + " A part has no field name.")
                }
                if !sawFile && asciiLowercased(name) == "file" {
                    sawFile = true
                    inFile = true
                    state = .fileData
                    return .fileStart(filename: partFilename, contentType: partContentType, offset: consumed)
                }
                state = .value
            case .value:
                guard let at = find(delimiter) else {
                    if sawFile {
                        // An ignored part after the file: drop what cannot be the start of the delimiter.
                        skip(max(0, window.readableBytes - (delimiter.count - 1)))
                    } else {
                        try checkFieldBound(pending: window.readableBytes)
                    }
                    return nil
                }
                if sawFile {
                    skip(at + delimiter.count)
                    state = .afterDelimiter
                    continue
                }
                try checkFieldBound(pending: at + delimiter.count)
                let value = window.getString(at: window.readerIndex, length: at) ?? ""
                skip(at + delimiter.count)
                state = .afterDelimiter
                return .field(name: partName ?? "", value: value)
            case .fileData:
                if let at = find(delimiter) {
                    if at > 0 {
                        let data = window.readSlice(length: at)!
                        consumed += Int64(at)
                        return .fileData(data)
                    }
                    skip(delimiter.count)
                    inFile = false
                    state = .afterDelimiter
                    return .fileEnd
                }
                // Everything except a tail that could begin the delimiter is file data.
                let keep = partialDelimiterSuffix()
                let count = window.readableBytes - keep
                guard count > 0 else { return nil }
                let data = window.readSlice(length: count)!
                consumed += Int64(count)
                return .fileData(data)
            }
        }
    }

    // MARK: - Headers

    private mutating func readHeader(_ line: [UInt8]) throws(S3Error) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw Self.malformed }
        let name = asciiLowercased(String(decoding: line[..<colon], as: UTF8.self))
        let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingSpaces
        switch name {
        case "content-disposition":
            let parameters = Self.parameters(value)
            guard parameters.first.map({ asciiLowercased($0.name) == "form-data" && $0.value == nil }) == true,
                let fieldName = parameters.first(where: { asciiLowercased($0.name) == "name" })?.value
            else {
                throw S3Error(
                    .malformedPOSTRequest,
                    Self.malformedMessage + " A part's Content-Disposition is not form-data with a name."
                )
            }
            partName = fieldName
            partFilename = parameters.first(where: { asciiLowercased($0.name) == "filename" })?.value
        case "content-type":
            partContentType = value
        default:
            break
        }
    }

    /// Splits `form-data; name="a"; filename="b.txt"` into `(form-data, nil), (name, a), (filename, b.txt)`.
    /// Quoted values may contain `;` and backslash escapes.
    static func parameters(_ text: String) -> [(name: String, value: String?)] {
        var result: [(name: String, value: String?)] = []
        var scalars = Substring(text).unicodeScalars[...]
        while !scalars.isEmpty {
            while let c = scalars.first, c == " " || c == "\t" || c == ";" { scalars.removeFirst() }
            var name = ""
            while let c = scalars.first, c != "=", c != ";" {
                name.unicodeScalars.append(c)
                scalars.removeFirst()
            }
            name = name.trimmingSpaces
            var value: String?
            if scalars.first == "=" {
                scalars.removeFirst()
                while let c = scalars.first, c == " " || c == "\t" { scalars.removeFirst() }
                var v = ""
                if scalars.first == "\"" {
                    scalars.removeFirst()
                    while let c = scalars.popFirst(), c != "\"" {
                        if c == "\\", let escaped = scalars.popFirst() {
                            v.unicodeScalars.append(escaped)
                        } else {
                            v.unicodeScalars.append(c)
                        }
                    }
                    while let c = scalars.first, c != ";" { scalars.removeFirst() }
                } else {
                    while let c = scalars.first, c != ";" {
                        v.unicodeScalars.append(c)
                        scalars.removeFirst()
                    }
                    v = v.trimmingSpaces
                }
                value = v
            }
            if !name.isEmpty { result.append((name, value)) }
        }
        return result
    }

    // MARK: - Window

    static let malformedMessage = "The body of your POST request is not well-formed multipart/form-data."
    static let malformed = S3Error(.malformedPOSTRequest, malformedMessage)

    /// Refuses a form whose bytes before the file would pass `maxFieldBytes` once `pending` more are taken.
    /// After the file, nothing is kept, but one header line may not exceed the bound either.
    private func checkFieldBound(pending: Int) throws(S3Error) {
        if sawFile {
            guard pending <= maxFieldBytes else {
                throw S3Error(.malformedPOSTRequest, Self.malformedMessage + " A part header is too long.")
            }
            return
        }
        if consumed + Int64(pending) > Int64(maxFieldBytes) {
            throw S3Error(
                .malformedPOSTRequest,
                "Your POST request fields preceding the upload file were too large "
                    + "(more than \(maxFieldBytes) bytes) or the form has no file field."
            )
        }
    }

    private mutating func skip(_ count: Int) {
        window.moveReaderIndex(forwardBy: count)
        consumed += Int64(count)
    }

    private func startsWith(_ pattern: [UInt8]) -> Bool {
        guard window.readableBytes >= pattern.count else { return false }
        return window.withUnsafeReadableBytes { raw in raw.prefix(pattern.count).elementsEqual(pattern) }
    }

    /// The offset of the first occurrence of `pattern` in the window.
    private func find(_ pattern: [UInt8]) -> Int? {
        window.withUnsafeReadableBytes { raw -> Int? in
            let n = raw.count
            let m = pattern.count
            guard n >= m, let first = pattern.first, let base = raw.baseAddress else { return nil }
            var i = 0
            while i <= n - m {
                // memchr: the file's bytes are scanned here, and it is fast even in debug builds.
                guard let found = memchr(base + i, Int32(first), n - m - i + 1) else { return nil }
                let hit = base.distance(to: UnsafeRawPointer(found))
                if memcmp(base + hit, pattern, m) == 0 { return hit }
                i = hit + 1
            }
            return nil
        }
    }

    /// The length of the longest tail of the window that is a proper prefix of the delimiter.
    private func partialDelimiterSuffix() -> Int {
        window.withUnsafeReadableBytes { raw -> Int in
            let n = raw.count
            var length = min(n, delimiter.count - 1)
            while length > 0 {
                if raw[(n - length)...].elementsEqual(delimiter[..<length]) { return length }
                length -= 1
            }
            return 0
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
