import NIOCore
import NIOHTTP1

/// One keep-alive connection to the upstream: its channel and the handler that glues it to a request.
final class UpstreamConnection {
    let channel: Channel
    let handler: UpstreamHandler
    /// When it last went back to the pool, for the pool's idle limit.
    var idleSince: NIODeadline = .now()
    /// How many exchanges have used it: a reused connection may have been closed by the upstream meanwhile.
    var exchanges = 0

    init(channel: Channel, handler: UpstreamHandler) {
        self.channel = channel
        self.handler = handler
    }

    var isWritable: Bool { channel.isWritable }
    var isActive: Bool { channel.isActive }

    func write(_ part: HTTPClientRequestPart) {
        handler.write(part)
    }

    func flush() {
        handler.flush()
    }

    /// Closes the connection: the way an upstream request is aborted.
    func close() {
        channel.close(promise: nil)
    }
}
