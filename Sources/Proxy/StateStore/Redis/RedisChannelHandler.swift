import NIOCore

/// The end of a Redis connection's pipeline: sends commands as they come (pipelined, never waiting for
/// earlier replies) and completes their promises with the replies, which Redis sends in command order.
///
/// A command with no reply within `commandTimeout` fails, and so does the connection: a late reply could
/// no longer be told from the next command's, so every command still waiting fails too and the
/// connection closes. One timer serves the whole queue: it is set for the oldest command's deadline, and
/// when it fires it either times that command out or moves on to the deadline of the command now oldest.
///
/// Sits behind `ByteToMessageHandler(RESPDecoder)` and `MessageToByteHandler(RESPCommandEncoder)`.
/// Only touched on its channel's event loop.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue
    typealias OutboundOut = RESPCommand

    private struct Pending {
        var promise: EventLoopPromise<RESPValue>
        var deadline: NIODeadline
        /// The command's name, for the timeout's message.
        var name: String
    }

    private let commandTimeout: TimeAmount
    private let maxInFlight: Int
    private var pending = CircularBuffer<Pending>()
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// Once set, the connection is finished: new commands fail with it at once.
    private var failure: RedisClientError?

    /// - Parameter maxInFlight: Commands sent and not yet answered; beyond, `send` fails at once.
    init(commandTimeout: TimeAmount, maxInFlight: Int = 4096) {
        self.commandTimeout = commandTimeout
        self.maxInFlight = maxInFlight
    }

    /// Commands sent and not yet answered.
    var pendingCount: Int { pending.count }

    /// Why the connection finished (a timeout, a refused reply, the connection closing); `nil` while it works.
    var finishedWith: RedisClientError? { failure }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(RedisClientError(.unavailable, "connection closed"), close: false)
        self.context = nil
    }

    /// Sends `command`; `promise` gets its reply.
    func send(_ command: RESPCommand, promise: EventLoopPromise<RESPValue>) {
        guard let context, failure == nil else {
            return promise.fail(failure ?? RedisClientError(.unavailable, "connection closed"))
        }
        guard pending.count < maxInFlight else {
            return promise.fail(RedisClientError(.unavailable, "\(pending.count) commands already wait for replies"))
        }
        let deadline = context.eventLoop.now + commandTimeout
        pending.append(Pending(promise: promise, deadline: deadline, name: command.name))
        if timer == nil { armTimer(deadline, context: context) }
        context.writeAndFlush(wrapOutboundOut(command), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard let first = pending.popFirst() else {
            // Redis answers only what was asked (this client never subscribes): the stream is out of step.
            return fail(RedisClientError(.protocolError, "a reply arrived for no command"), close: true)
        }
        first.promise.succeed(reply)
        if pending.isEmpty {
            timer?.cancel()
            timer = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RESPProtocolError {
            fail(RedisClientError(.protocolError, "the server's reply was refused: \(error.message)"), close: true)
        } else {
            fail(RedisClientError(.unavailable, "connection failed: \(error)"), close: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(RedisClientError(.unavailable, "connection closed"), close: false)
        context.fireChannelInactive()
    }

    // MARK: - Timeouts and failure

    private func armTimer(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        let eventLoop = context.eventLoop
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard let oldest = pending.first else { return }
            if oldest.deadline <= eventLoop.now {
                fail(
                    RedisClientError(.timeout, "no reply to \(oldest.name) within \(Self.describe(commandTimeout))"),
                    close: true
                )
            } else if let context = self.context {
                armTimer(oldest.deadline, context: context)
            }
        }
    }

    /// Fails every waiting command (and every later one) with `error`.
    private func fail(_ error: RedisClientError, close: Bool) {
        if failure == nil { failure = error }
        timer?.cancel()
        timer = nil
        while let waiting = pending.popFirst() {
            waiting.promise.fail(error)
        }
        if close { context?.close(promise: nil) }
    }

    static func describe(_ amount: TimeAmount) -> String {
        let millis = amount.nanoseconds / 1_000_000
        return millis % 1000 == 0 ? "\(millis / 1000) s" : "\(millis) ms"
    }
}
