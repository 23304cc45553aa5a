import NIOCore
import NIOHTTP1

/// The proxy side of one upstream exchange: receives the upstream's response parts and tells the proxy
/// when the upstream connection's writability changes or the connection fails.
///
/// All calls happen on the event loop that the client and upstream channels share.
protocol UpstreamExchangeDelegate: AnyObject {
    func upstreamReceived(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    /// The connection closed, failed or timed out before the exchange finished.
    func upstreamFailed(_ error: UpstreamError)
    /// Whether the client can take more response bytes: upstream reads wait until it can.
    var clientIsWritable: Bool { get }
    /// Whether the request body is still being sent: an upstream that says nothing meanwhile is normal.
    var requestBodyInFlight: Bool { get }
}

/// Why an upstream exchange failed.
enum UpstreamError: Error, Equatable {
    case connectFailed(String)
    case connectTimeout
    case closed
    case timeout
    case poolExhausted
    case poolWaitTimeout
    case shutDown
    /// A `1xx` other than `100 Continue` (a `101 Switching Protocols`, say): the connection is not HTTP/1.1
    /// any more, or not as S3 speaks it.
    case unexpectedInterimResponse(Int)
}

/// The last handler of an upstream channel: glues it to whichever client request is using it, and holds
/// reads while that client cannot take more bytes (the `GlueHandler` pattern of swift-nio-examples).
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// The exchange using this connection; `nil` while it sits in the pool.
    weak var delegate: (any UpstreamExchangeDelegate)? {
        didSet { if delegate == nil || delegate!.clientIsWritable { resumeRead() } }
    }
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if let delegate {
            delegate.upstreamReceived(part)
        } else {
            // A response nobody asked for (or after the exchange ended): the connection is unusable.
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(.closed)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // No response bytes for a while. During an upload that is normal as long as the upstream keeps
            // taking the body; once it stops (unwritable) or the request is complete, it has gone quiet.
            if let delegate, delegate.requestBodyInFlight && context.channel.isWritable { return }
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamFailed(.timeout)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        if let delegate, !delegate.clientIsWritable {
            pendingRead = true
        } else {
            pendingRead = false
            context.read()
        }
    }

    /// Writes a request part from the proxy side (on the loop).
    func write(_ part: HTTPClientRequestPart) {
        context?.write(wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    /// Issues a read held back while the client was not writable.
    func resumeRead() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
