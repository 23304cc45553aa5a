import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

@Suite("RESP codec")
struct RESPCodecTests {
    static func decoderChannel(limits: RESPDecoder.Limits = RESPDecoder.Limits()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(limits: limits)))
        return channel
    }

    /// Feeds `chunks` and returns every reply decoded.
    static func decode(_ chunks: [[UInt8]], limits: RESPDecoder.Limits = RESPDecoder.Limits()) throws -> [RESPValue] {
        let channel = try decoderChannel(limits: limits)
        var values: [RESPValue] = []
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
            while let value = try channel.readInbound(as: RESPValue.self) { values.append(value) }
        }
        _ = try channel.finish()
        return values
    }

    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    /// A stream of every kind of reply, pipelined, and what it decodes to.
    static let stream = Array(
        ("+OK\r\n-NOSCRIPT No matching script. Please use EVAL.\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$-1\r\n$0\r\n\r\n"
            + "*-1\r\n*0\r\n*4\r\n:1\r\n:59\r\n:1\r\n:-1\r\n*2\r\n*2\r\n$1\r\na\r\n$-1\r\n*1\r\n+x\r\n"
            + "$6\r\na\r\nb\r\n\r\n").utf8
    )
    static let streamValues: [RESPValue] = [
        .simpleString("OK"), .error("NOSCRIPT No matching script. Please use EVAL."), .integer(42), .integer(-7),
        bulk("hello"), .bulkString(nil), bulk(""), .array(nil), .array([]),
        .array([.integer(1), .integer(59), .integer(1), .integer(-1)]),
        .array([.array([bulk("a"), .bulkString(nil)]), .array([.simpleString("x")])]),
        bulk("a\r\nb\r\n"),
    ]

    @Test("every reply type decodes: strings, errors, integers, bulk and nil bulk, nil and nested arrays")
    func everyType() throws {
        #expect(try Self.decode([Self.stream]) == Self.streamValues)
    }

    @Test("a stream split in two at every byte decodes to the same replies")
    func splitAtEveryByte() throws {
        for cut in 1..<Self.stream.count {
            let values = try Self.decode([Array(Self.stream[..<cut]), Array(Self.stream[cut...])])
            #expect(values == Self.streamValues, "cut at byte \(cut)")
        }
    }

    @Test("a stream fed one byte at a time decodes to the same replies")
    func oneByteAtATime() throws {
        #expect(try Self.decode(Self.stream.map { [$0] }) == Self.streamValues)
    }

    @Test("an unfinished reply yields nothing and consumes nothing until it is whole")
    func unfinishedReplyWaits() throws {
        var buffer = ByteBuffer(string: "*2\r\n:1\r\n$3\r\nab")
        #expect(try RESPDecoder.parse(&buffer, limits: .init()) == nil)
        #expect(buffer.readableBytes == 14)
        buffer.writeString("c\r\n")
        #expect(try RESPDecoder.parse(&buffer, limits: .init()) == .array([.integer(1), Self.bulk("abc")]))
        #expect(buffer.readableBytes == 0)
    }

    @Test(
        "malformed replies are refused with a reason",
        arguments: [
            ("!oops\r\n", "not a RESP2 type"),
            ("+OK\n", "LF instead of CRLF"),
            (":12a\r\n", "not an integer"),
            (":+5\r\n", "not an integer"),
            (":99999999999999999999\r\n", "not an integer"),
            ("$-2\r\n", "length -2"),
            ("$3\r\nabcXY", "does not end with CRLF"),
            ("*-5\r\n", "-5 elements"),
            ("$x\r\n", "not an integer"),
        ]
    )
    func malformed(reply: String, reason: String) throws {
        let channel = try Self.decoderChannel()
        #expect {
            try channel.writeInbound(ByteBuffer(string: reply))
        } throws: { error in
            (error as? RESPProtocolError)?.message.contains(reason) == true
        }
    }

    @Test("a bulk string over the limit is refused from its header, before its bytes are buffered")
    func oversizedBulkRefused() throws {
        let limits = RESPDecoder.Limits(maxBulkStringBytes: 16)
        var fits = ByteBuffer(string: "$16\r\n0123456789abcdef\r\n")
        #expect(try RESPDecoder.parse(&fits, limits: limits) == Self.bulk("0123456789abcdef"))
        var over = ByteBuffer(string: "$17\r\n")
        #expect(throws: RESPProtocolError("a bulk string of 17 bytes is longer than 16")) {
            try RESPDecoder.parse(&over, limits: limits)
        }
    }

    @Test("an array with more elements than the limit is refused from its header")
    func oversizedArrayRefused() throws {
        var buffer = ByteBuffer(string: "*5\r\n")
        #expect(throws: RESPProtocolError("an array of 5 elements is longer than 4")) {
            try RESPDecoder.parse(&buffer, limits: .init(maxArrayElements: 4))
        }
    }

    @Test("arrays nested deeper than the limit are refused")
    func deepNestingRefused() throws {
        let limits = RESPDecoder.Limits(maxDepth: 3)
        var three = ByteBuffer(string: "*1\r\n*1\r\n*1\r\n:1\r\n")
        #expect(try RESPDecoder.parse(&three, limits: limits) == .array([.array([.array([.integer(1)])])]))
        var four = ByteBuffer(string: "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
        #expect(throws: RESPProtocolError("arrays nest deeper than 3")) {
            try RESPDecoder.parse(&four, limits: limits)
        }
    }

    @Test("a line that never ends is refused once it passes the limit, not buffered without end")
    func endlessLineRefused() throws {
        let channel = try Self.decoderChannel(limits: .init(maxLineBytes: 64))
        try channel.writeInbound(ByteBuffer(string: "+" + String(repeating: "a", count: 60)))
        #expect(throws: RESPProtocolError("a reply line is longer than 64 bytes")) {
            try channel.writeInbound(ByteBuffer(string: String(repeating: "a", count: 10)))
        }
    }

    @Test("a reply whose parts each fit but whose whole is too long is refused")
    func oversizedReplyRefused() throws {
        let limits = RESPDecoder.Limits(maxBulkStringBytes: 100, maxArrayElements: 100, maxReplyBytes: 200)
        let element = "$90\r\n" + String(repeating: "x", count: 90) + "\r\n"
        var whole = ByteBuffer(string: "*3\r\n" + String(repeating: element, count: 3))
        #expect(throws: RESPProtocolError("a reply is longer than 200 bytes")) {
            try RESPDecoder.parse(&whole, limits: limits)
        }
        // Still arriving: refused as soon as what is buffered passes the limit.
        var partial = ByteBuffer(string: "*3\r\n" + String(repeating: element, count: 2) + "$90\r\nxx")
        #expect(throws: RESPProtocolError("a reply is longer than 200 bytes")) {
            try RESPDecoder.parse(&partial, limits: limits)
        }
    }

    @Test("a reply cut off by the end of the connection is dropped, the whole ones before it delivered")
    func truncatedAtEOF() throws {
        let channel = try Self.decoderChannel()
        try channel.writeInbound(ByteBuffer(string: ":1\r\n$5\r\nhel"))
        #expect(try channel.readInbound(as: RESPValue.self) == .integer(1))
        _ = try channel.finish()
        #expect(try channel.readInbound(as: RESPValue.self) == nil)
    }

    @Test("a command is written as an array of bulk strings, binary-safe")
    func encodesCommand() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(RESPCommandEncoder()))
        try channel.writeOutbound(RESPCommand("SET", ["k", "a\r\nb", "NX", "PX", "1500"]))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(
            String(buffer: written)
                == "*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$2\r\nNX\r\n$2\r\nPX\r\n$4\r\n1500\r\n"
        )
        try channel.writeOutbound(RESPCommand("PING"))
        #expect(String(buffer: try #require(try channel.readOutbound(as: ByteBuffer.self))) == "*1\r\n$4\r\nPING\r\n")
    }

    @Test("a command's name is what errors may show; its arguments (an AUTH password) are not")
    func commandName() {
        #expect(RESPCommand("auth", ["user", "secret"]).name == "AUTH")
    }
}
