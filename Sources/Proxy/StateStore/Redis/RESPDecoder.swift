import NIOCore

/// Turns the bytes of a Redis connection into RESP2 replies, one `RESPValue` per reply, in order.
///
/// Bounded: a reply longer than the limits (a bulk string, an array, nesting, a line, the whole reply) is a
/// `RESPProtocolError`, and the connection is closed; a server (or whatever answers on its port) cannot make
/// the client buffer without end. An incomplete reply is parsed again from its start when more bytes come;
/// replies here are small (an array of four integers, a Content-Type), so that costs less than keeping a
/// parser's stack between reads.
struct RESPDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// What one reply may hold.
    struct Limits: Sendable, Equatable {
        /// The longest bulk string.
        var maxBulkStringBytes: Int
        /// The most elements of one array.
        var maxArrayElements: Int
        /// How deep arrays may nest (a top-level array is depth 1).
        var maxDepth: Int
        /// The longest simple string, error or integer line.
        var maxLineBytes: Int
        /// The most bytes one reply may take, all of it.
        var maxReplyBytes: Int

        init(
            maxBulkStringBytes: Int = 512 * 1024,
            maxArrayElements: Int = 1024,
            maxDepth: Int = 4,
            maxLineBytes: Int = 16 * 1024,
            maxReplyBytes: Int = 1024 * 1024
        ) {
            self.maxBulkStringBytes = maxBulkStringBytes
            self.maxArrayElements = maxArrayElements
            self.maxDepth = maxDepth
            self.maxLineBytes = maxLineBytes
            self.maxReplyBytes = maxReplyBytes
        }
    }

    let limits: Limits

    init(limits: Limits = Limits()) {
        self.limits = limits
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let value = try Self.parse(&buffer, limits: limits) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(value))
        return .continue
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A reply cut off by the end of the connection is dropped: its command fails with the connection.
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        return .needMoreData
    }

    // MARK: - Parsing

    /// Reads one whole reply from the front of `buffer`, or nothing (and leaves `buffer` as it was) when it
    /// has not all arrived yet.
    static func parse(_ buffer: inout ByteBuffer, limits: Limits) throws(RESPProtocolError) -> RESPValue? {
        var reading = buffer
        guard let value = try parseValue(&reading, depth: 0, limits: limits) else {
            // Whatever is buffered belongs to the unfinished first reply.
            if buffer.readableBytes > limits.maxReplyBytes {
                throw RESPProtocolError("a reply is longer than \(limits.maxReplyBytes) bytes")
            }
            return nil
        }
        if buffer.readableBytes - reading.readableBytes > limits.maxReplyBytes {
            throw RESPProtocolError("a reply is longer than \(limits.maxReplyBytes) bytes")
        }
        buffer = reading
        return value
    }

    private static func parseValue(
        _ buffer: inout ByteBuffer,
        depth: Int,
        limits: Limits
    ) throws(RESPProtocolError) -> RESPValue? {
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "$"), UInt8(ascii: "*"):
            break
        default:
            throw RESPProtocolError("a reply starts with byte 0x\(String(type, radix: 16)), not a RESP2 type")
        }
        guard let line = try readLine(&buffer, limits: limits) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            return .simpleString(line)
        case UInt8(ascii: "-"):
            return .error(line)
        case UInt8(ascii: ":"):
            return .integer(try integer(line))
        case UInt8(ascii: "$"):
            let length = try integer(line)
            if length == -1 { return .bulkString(nil) }
            guard length >= 0 else { throw RESPProtocolError("a bulk string has length \(length)") }
            guard length <= limits.maxBulkStringBytes else {
                throw RESPProtocolError("a bulk string of \(length) bytes is longer than \(limits.maxBulkStringBytes)")
            }
            guard buffer.readableBytes >= Int(length) + 2 else { return nil }
            let bytes = buffer.readSlice(length: Int(length))!
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
                throw RESPProtocolError("a bulk string does not end with CRLF where its length says")
            }
            return .bulkString(bytes)
        default:  // "*"
            let count = try integer(line)
            if count == -1 { return .array(nil) }
            guard count >= 0 else { throw RESPProtocolError("an array has \(count) elements") }
            guard count <= limits.maxArrayElements else {
                throw RESPProtocolError("an array of \(count) elements is longer than \(limits.maxArrayElements)")
            }
            guard depth < limits.maxDepth else {
                throw RESPProtocolError("arrays nest deeper than \(limits.maxDepth)")
            }
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let element = try parseValue(&buffer, depth: depth + 1, limits: limits) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        }
    }

    /// The rest of a line after its type byte, without the CRLF; `nil` while the CRLF has not arrived.
    private static func readLine(_ buffer: inout ByteBuffer, limits: Limits) throws(RESPProtocolError) -> String? {
        let view = buffer.readableBytesView
        // The type byte, the line, CR and LF.
        let scanned = view.prefix(limits.maxLineBytes + 3)
        guard let newline = scanned.firstIndex(of: UInt8(ascii: "\n")) else {
            if scanned.count == limits.maxLineBytes + 3 {
                throw RESPProtocolError("a reply line is longer than \(limits.maxLineBytes) bytes")
            }
            return nil
        }
        let lineLength = newline - view.startIndex  // type byte .. CR
        guard lineLength >= 2, view[newline - 1] == UInt8(ascii: "\r") else {
            throw RESPProtocolError("a reply line ends with LF instead of CRLF")
        }
        buffer.moveReaderIndex(forwardBy: 1)
        let line = buffer.readString(length: lineLength - 2)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    private static func integer(_ text: String) throws(RESPProtocolError) -> Int64 {
        // Int64(_:) takes an optional sign and digits only, and refuses an overflow.
        guard let value = Int64(text), !text.hasPrefix("+") else {
            throw RESPProtocolError("\"\(text.prefix(32))\" is not an integer")
        }
        return value
    }
}

/// A reply the client refuses: malformed, or beyond the decoder's limits.
struct RESPProtocolError: Error, Equatable, CustomStringConvertible {
    var message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}
