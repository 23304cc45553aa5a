import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Proxy

@Suite("Header timeout")
struct RequestHeadTimeoutTests {
    static func channel(timeout: TimeAmount) throws -> EmbeddedChannel {
        let timer = RequestHeadTimeout(timeout: timeout)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([
            timer.makeRawSide(),
            ByteToMessageHandler(HTTPRequestDecoder()),
            timer.makeParsedSide(),
        ])
        _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test("a head still unfinished when the time is up closes the connection, trickled bytes or not")
    func slowHeadCloses() throws {
        let channel = try Self.channel(timeout: .seconds(2))
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        try channel.writeInbound(ByteBuffer(string: "X-A: b\r\n"))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1001))
        #expect(!channel.isActive)
    }

    @Test("a finished head stops the clock; the next request's first byte starts it again")
    func clockPerRequest() throws {
        let channel = try Self.channel(timeout: .seconds(2))
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(channel.isActive, "a finished head (and an idle connection) is not this timer's business")
        while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
        try channel.writeInbound(ByteBuffer(string: "GET /second HTTP/1.1\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive)
    }

    @Test("in the server pipeline, a pipelined head waiting behind a long response does not run the clock out")
    func pipelinedHeadBehindLongResponse() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: true)
        try RequestHeadTimeout(timeout: .seconds(2)).install(in: channel.pipeline.syncOperations)
        _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
        while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
        // The first response is still streaming when the second request's head arrives whole.
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeInbound(ByteBuffer(string: "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(channel.isActive, "a complete head held back by the pipelining handler timed out")
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        #expect(channel.isActive)
        // A head that really is slow still closes the connection in this pipeline.
        while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        try channel.writeInbound(ByteBuffer(string: "GET /slow HTTP/1.1\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive)
    }
}
