import NIOCore
import NIOHTTP1

/// One small request the sidecar makes upstream itself (a presign API listing) through the same pool as
/// proxied requests; the response is collected whole, up to `maxBodyBytes`.
///
/// Loop-bound, like the pool: everything happens on the event loop of the client channel.
final class UpstreamFetch: UpstreamExchangeDelegate {
    typealias Completion = (Result<(HTTPResponseHead, [UInt8]), UpstreamError>) -> Void

    private let upstreams: any UpstreamConnectionSource
    private let head: HTTPRequestHead
    private let maxBodyBytes: Int
    private var completion: Completion?
    private var connection: UpstreamConnection?
    private var responseHead: HTTPResponseHead?
    private var body: [UInt8] = []
    private var retried = false

    init(
        upstreams: any UpstreamConnectionSource,
        head: HTTPRequestHead,
        maxBodyBytes: Int,
        completion: @escaping Completion
    ) {
        self.upstreams = upstreams
        self.head = head
        self.maxBodyBytes = maxBodyBytes
        self.completion = completion
    }

    func start() {
        upstreams.acquire { [self] result in
            switch result {
            case .failure(let error):
                finish(.failure(error))
            case .success(let connection):
                guard completion != nil else { return upstreams.release(connection, reusable: true) }
                connection.exchanges += 1
                self.connection = connection
                connection.handler.delegate = self
                connection.write(.head(head))
                connection.write(.end(nil))
                connection.flush()
            }
        }
    }

    /// Drops the exchange (the client went away): the connection is closed, nothing is called back.
    func cancel() {
        completion = nil
        closeConnection()
    }

    private func closeConnection() {
        if let connection {
            self.connection = nil
            connection.handler.delegate = nil
            upstreams.release(connection, reusable: false)
        }
    }

    private func finish(_ result: Result<(HTTPResponseHead, [UInt8]), UpstreamError>) {
        let completion = self.completion
        self.completion = nil
        completion?(result)
    }

    // MARK: - UpstreamExchangeDelegate

    var clientIsWritable: Bool { true }
    var requestBodyInFlight: Bool { false }

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let connection else { return }
        switch part {
        case .head(let head):
            if head.status == .continue { return }
            // Any other interim reply (a 101 above all) leaves the connection unfit for reuse: see ProxyHandler.
            if head.status.code > 100 && head.status.code < 200 {
                return upstreamFailed(.unexpectedInterimResponse(Int(head.status.code)))
            }
            responseHead = HTTPResponseHead(version: head.version, status: head.status, headers: head.headers)
        case .body(var bytes):
            guard body.count + bytes.readableBytes <= maxBodyBytes else {
                // Too large to collect: the connection is mid-response, so it goes; the caller still hears.
                closeConnection()
                return finish(.failure(.closed))
            }
            body += bytes.readBytes(length: bytes.readableBytes) ?? []
        case .end:
            self.connection = nil
            connection.handler.delegate = nil
            let keepAlive = responseHead?.isKeepAlive ?? false
            upstreams.release(connection, reusable: keepAlive)
            if let responseHead { finish(.success((responseHead, body))) } else { finish(.failure(.closed)) }
        }
    }

    func upstreamReadComplete() {}

    func upstreamWritabilityChanged(isWritable: Bool) {}

    func upstreamFailed(_ error: UpstreamError) {
        guard let connection else { return }
        self.connection = nil
        upstreams.release(connection, reusable: false)
        // A pooled connection the upstream had closed while idle: a GET is safe to send again, once.
        if error == .closed && responseHead == nil && !retried && connection.exchanges > 1 {
            retried = true
            body = []
            return start()
        }
        finish(.failure(error))
    }
}
