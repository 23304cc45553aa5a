import NIOCore
import NIOEmbedded
import Testing

@testable import Proxy

@Suite("Redis connection handler")
struct RedisChannelHandlerTests {
    /// A connected channel with the client's pipeline: bytes in, commands out as bytes.
    static func channel(
        timeout: TimeAmount = .seconds(1),
        maxInFlight: Int = 4096
    ) throws -> (EmbeddedChannel, RedisChannelHandler) {
        let channel = EmbeddedChannel()
        let handler = RedisChannelHandler(commandTimeout: timeout, maxInFlight: maxInFlight)
        try channel.pipeline.syncOperations.addHandlers([
            ByteToMessageHandler(RESPDecoder()),
            MessageToByteHandler(RESPCommandEncoder()),
        ])
        _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        try channel.pipeline.syncOperations.addHandler(handler)
        return (channel, handler)
    }

    static func send(
        _ command: RESPCommand,
        _ handler: RedisChannelHandler,
        _ channel: EmbeddedChannel
    )
        -> EventLoopFuture<RESPValue>
    {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(command, promise: promise)
        return promise.futureResult
    }

    /// What a future holds now (an `EmbeddedEventLoop` completes futures synchronously).
    static func result<T>(_ future: EventLoopFuture<T>) -> Result<T, any Error>? {
        var result: Result<T, any Error>?
        future.assumeIsolated().whenComplete { result = $0 }
        return result
    }

    @Test("commands go out at once, pipelined, and replies complete them in order")
    func pipelinedInOrder() throws {
        let (channel, handler) = try Self.channel()
        let get = Self.send(RESPCommand("GET", ["a"]), handler, channel)
        let set = Self.send(RESPCommand("SET", ["b", "1", "NX", "PX", "100"]), handler, channel)
        let ping = Self.send(RESPCommand("PING"), handler, channel)
        var written = ""
        while let bytes = try channel.readOutbound(as: ByteBuffer.self) { written += String(buffer: bytes) }
        #expect(written.hasPrefix("*2\r\n$3\r\nGET\r\n") && written.hasSuffix("*1\r\n$4\r\nPING\r\n"))
        #expect(handler.pendingCount == 3)
        try channel.writeInbound(ByteBuffer(string: "$1\r\nx\r\n$-1\r\n+PO"))
        #expect(try Self.result(get)?.get() == .bulkString(ByteBuffer(string: "x")))
        #expect(try Self.result(set)?.get() == .bulkString(nil))
        #expect(Self.result(ping) == nil)
        try channel.writeInbound(ByteBuffer(string: "NG\r\n"))
        #expect(try Self.result(ping)?.get() == .simpleString("PONG"))
        #expect(handler.pendingCount == 0)
    }

    @Test("an error reply is a reply: it completes its command and the connection goes on")
    func errorReplyIsAValue() throws {
        let (channel, handler) = try Self.channel()
        let first = Self.send(RESPCommand("EVALSHA", ["abc", "0"]), handler, channel)
        let second = Self.send(RESPCommand("PING"), handler, channel)
        try channel.writeInbound(ByteBuffer(string: "-NOSCRIPT No matching script.\r\n+PONG\r\n"))
        #expect(try Self.result(first)?.get() == .error("NOSCRIPT No matching script."))
        #expect(try Self.result(second)?.get() == .simpleString("PONG"))
        #expect(channel.isActive)
    }

    @Test("a command unanswered within the timeout fails, with every command behind it, and the connection closes")
    func timeoutFailsAllAndCloses() throws {
        let (channel, handler) = try Self.channel(timeout: .milliseconds(500))
        let first = Self.send(RESPCommand("GET", ["a"]), handler, channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        let second = Self.send(RESPCommand("GET", ["b"]), handler, channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(199))
        #expect(Self.result(first) == nil)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        for future in [first, second] {
            #expect(throws: RedisClientError(.timeout, "no reply to GET within 500 ms")) {
                try Self.result(future)?.get()
            }
        }
        #expect(!channel.isActive)
        let later = Self.send(RESPCommand("PING"), handler, channel)
        #expect(throws: RedisClientError.self) { try Self.result(later)?.get() }
    }

    @Test("a timely reply moves the clock on to the next command's own deadline")
    func timerFollowsOldestCommand() throws {
        let (channel, handler) = try Self.channel(timeout: .milliseconds(500))
        let first = Self.send(RESPCommand("GET", ["a"]), handler, channel)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(400))
        let second = Self.send(RESPCommand("GET", ["b"]), handler, channel)
        try channel.writeInbound(ByteBuffer(string: "$-1\r\n"))
        #expect(try Self.result(first)?.get() == .bulkString(nil))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))  // past the first's deadline
        #expect(Self.result(second) == nil)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))  // the second's own
        #expect(throws: RedisClientError.self) { try Self.result(second)?.get() }
        #expect(!channel.isActive)
    }

    @Test("a reply refused by the decoder fails the waiting commands as a protocol error and closes")
    func refusedReplyFailsAll() throws {
        let (channel, handler) = try Self.channel()
        let first = Self.send(RESPCommand("GET", ["a"]), handler, channel)
        // The handler takes the decoder's error (nothing reaches the pipeline's end).
        try channel.writeInbound(ByteBuffer(string: "?what\r\n"))
        let error = try #require(Self.result(first)?.failureValue as? RedisClientError)
        #expect(error.code == .protocolError)
        #expect(error.message.contains("not a RESP2 type"))
        #expect(!channel.isActive)
    }

    @Test("beyond the commands in flight, a command fails at once instead of queueing; a reply makes room")
    func inFlightBounded() throws {
        let (channel, handler) = try Self.channel(maxInFlight: 2)
        let first = Self.send(RESPCommand("PING"), handler, channel)
        _ = Self.send(RESPCommand("PING"), handler, channel)
        let third = Self.send(RESPCommand("PING"), handler, channel)
        let error = try #require(Self.result(third)?.failureValue as? RedisClientError)
        #expect(error == RedisClientError(.unavailable, "2 commands already wait for replies"))
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(try Self.result(first)?.get() == .simpleString("PONG"))
        let fourth = Self.send(RESPCommand("PING"), handler, channel)
        #expect(Self.result(fourth) == nil, "sent, waiting for its reply")
        #expect(handler.pendingCount == 2)
        #expect(channel.isActive)
    }

    @Test("a reply that answers no command closes the connection as out of step")
    func unsolicitedReplyCloses() throws {
        let (channel, _) = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: "+OK\r\n"))
        #expect(!channel.isActive)
    }

    @Test("a connection that closes fails the commands still waiting")
    func closeFailsPending() throws {
        let (channel, handler) = try Self.channel()
        let first = Self.send(RESPCommand("GET", ["a"]), handler, channel)
        channel.pipeline.fireChannelInactive()
        let error = try #require(Self.result(first)?.failureValue as? RedisClientError)
        #expect(error.code == .unavailable)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
