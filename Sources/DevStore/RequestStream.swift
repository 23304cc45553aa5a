import NIOCore
import NIOHTTP1

/// The request parts of one connection, consumed one request at a time.
///
/// Body bytes are pulled only when the store is ready for them, and the NIOAsyncChannel underneath stops
/// reading from the socket when too many are buffered: that is the upload side's backpressure.
struct RequestStream {
    /// The connection ended, or broke, before the request body's last byte: the request is abandoned
    /// and nothing it started may be kept.
    struct BodyEndedEarly: Error {}

    private var iterator: NIOAsyncChannelInboundStream<HTTPServerRequestPart>.AsyncIterator
    /// Whether the current request's body has been read to its end.
    private(set) var bodyComplete = true

    init(_ inbound: NIOAsyncChannelInboundStream<HTTPServerRequestPart>) {
        self.iterator = inbound.makeAsyncIterator()
    }

    /// The next request's head, or `nil` when the client is done.
    mutating func nextHead() async throws -> HTTPRequestHead? {
        while let part = try await iterator.next() {
            if case .head(let head) = part {
                bodyComplete = false
                return head
            }
        }
        return nil
    }

    /// The next piece of the current body, `nil` after its last byte.
    mutating func nextBodyChunk() async throws -> ByteBuffer? {
        guard !bodyComplete else { return nil }
        let part: HTTPServerRequestPart?
        do {
            part = try await iterator.next()
        } catch {
            throw BodyEndedEarly()
        }
        switch part {
        case .body(let buffer):
            return buffer
        case .end:
            bodyComplete = true
            return nil
        case .head, nil:
            throw BodyEndedEarly()
        }
    }

    /// Reads and discards the rest of the current body.
    mutating func drainBody() async throws {
        while try await nextBodyChunk() != nil {}
    }

    /// Reads a small body whole; `MaxMessageLengthExceeded` beyond `limit` bytes.
    mutating func collectBody(limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        while var chunk = try await nextBodyChunk() {
            guard collected.readableBytes + chunk.readableBytes <= limit else {
                throw DevStoreError(.maxMessageLengthExceeded, "Your request was too big.")
            }
            collected.writeBuffer(&chunk)
        }
        return collected
    }
}
