import NIOCore
import NIOHTTP1

/// Closes a connection whose client starts a request but does not finish its head in time (a slow-headers
/// attack keeps sending a byte now and then, which an idle timeout never catches). Two handlers share it:
/// `RawSide` before the HTTP decoder sees the first byte of a request, `ParsedSide` after it sees the head.
final class RequestHeadTimeout {
    private let timeout: TimeAmount
    private var waitingForHead = true
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    /// Puts the two sides around the HTTP decoder of a pipeline made by `configureHTTPServerPipeline`. The
    /// parsed side goes right after the decoder, ahead of the pipelining handler: that one holds a
    /// pipelined request's head back while the previous response streams, and the clock, started by the
    /// head's bytes, would run out during a long download.
    func install(in pipeline: ChannelPipeline.SynchronousOperations) throws {
        let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try pipeline.addHandler(makeRawSide(), position: .before(decoder))
        try pipeline.addHandler(makeParsedSide(), position: .after(decoder))
    }

    /// The handler before the decoder: starts the clock at a request's first byte.
    func makeRawSide() -> RawSide { RawSide(owner: self) }
    /// The handler after the decoder: stops it at the head, and re-arms after the request's end.
    func makeParsedSide() -> ParsedSide { ParsedSide(owner: self) }

    private func bytesArrived(context: ChannelHandlerContext) {
        guard waitingForHead, timer == nil else { return }
        let channel = context.channel
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
    }

    private func headArrived() {
        waitingForHead = false
        timer?.cancel()
        timer = nil
    }

    private func requestEnded() {
        waitingForHead = true
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }

    final class RawSide: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        private let owner: RequestHeadTimeout

        fileprivate init(owner: RequestHeadTimeout) { self.owner = owner }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            owner.bytesArrived(context: context)
            context.fireChannelRead(data)
        }

        func channelInactive(context: ChannelHandlerContext) {
            owner.stop()
            context.fireChannelInactive()
        }
    }

    final class ParsedSide: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        private let owner: RequestHeadTimeout

        fileprivate init(owner: RequestHeadTimeout) { self.owner = owner }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: owner.headArrived()
            case .body: break
            case .end: owner.requestEnded()
            }
            context.fireChannelRead(data)
        }
    }
}
