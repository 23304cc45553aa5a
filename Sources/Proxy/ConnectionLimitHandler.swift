import NIOCore

/// On the listening channel: stops accepting while `maximum` client connections are open. Connections
/// beyond the limit are not refused; they wait in the kernel's listen backlog until one closes (and past
/// the backlog the kernel drops or refuses them, as it would for any busy server).
final class ConnectionLimitHandler: ChannelDuplexHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel
    typealias OutboundIn = Never

    private let maximum: Int
    private var open = 0
    private var pendingRead = false
    private var context: ChannelHandlerContext?

    init(maximum: Int) {
        self.maximum = maximum
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let child = unwrapInboundIn(data)
        open += 1
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        child.closeFuture.whenComplete { _ in
            loop.execute { bound.value.childClosed() }
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if open < maximum {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func childClosed() {
        open -= 1
        if pendingRead, open < maximum, let context {
            pendingRead = false
            context.read()
        }
    }
}
