import NIOCore
import NIOEmbedded
import NIOHTTP1
import Verifier

@testable import Proxy

/// Counts the `read()` calls that reach the front of a pipeline: what backpressure tests watch.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = Any
    var reads = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// An upstream stand-in for handler tests: each acquired connection is an `EmbeddedChannel` on the test's
/// loop, so the test reads what would have gone upstream and injects what the upstream answers.
final class FakeUpstreams: UpstreamConnectionSource {
    enum Behaviour {
        case immediate
        case deferred
        case fail(UpstreamError)
    }

    let loop: EmbeddedEventLoop
    var behaviour: Behaviour
    private(set) var acquired: [(channel: EmbeddedChannel, counter: ReadCounter)] = []
    private(set) var released: [Bool] = []
    private(set) var acquireCalls = 0
    private var waiting: [(Result<UpstreamConnection, UpstreamError>) -> Void] = []

    init(loop: EmbeddedEventLoop, behaviour: Behaviour = .immediate) {
        self.loop = loop
        self.behaviour = behaviour
    }

    func acquire(_ callback: @escaping (Result<UpstreamConnection, UpstreamError>) -> Void) {
        acquireCalls += 1
        switch behaviour {
        case .immediate: callback(.success(makeConnection()))
        case .deferred: waiting.append(callback)
        case .fail(let error): callback(.failure(error))
        }
    }

    /// Completes the oldest deferred acquire with a fresh connection.
    func completeDeferred() {
        guard !waiting.isEmpty else { return }
        waiting.removeFirst()(.success(makeConnection()))
    }

    func release(_ connection: UpstreamConnection, reusable: Bool) {
        connection.handler.delegate = nil
        released.append(reusable)
        if !reusable { connection.channel.close(promise: nil) }
    }

    var upstream: EmbeddedChannel { acquired.last!.channel }

    /// Everything written to the last upstream connection so far.
    func upstreamParts() throws -> [HTTPClientRequestPart] {
        var parts: [HTTPClientRequestPart] = []
        while let part = try upstream.readOutbound(as: HTTPClientRequestPart.self) { parts.append(part) }
        return parts
    }

    private func makeConnection() -> UpstreamConnection {
        let counter = ReadCounter()
        let handler = UpstreamHandler()
        let channel = EmbeddedChannel(handlers: [counter, handler], loop: loop)
        _ = try! channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9000)).wait()
        acquired.append((channel, counter))
        return UpstreamConnection(channel: channel, handler: handler)
    }
}

/// A client connection with a `ProxyHandler` on an `EmbeddedChannel`, fed decoded request parts.
struct EmbeddedProxy {
    let loop = EmbeddedEventLoop()
    let client: EmbeddedChannel
    let counter = ReadCounter()
    let upstreams: FakeUpstreams
    let signer = TestSigner()

    init(
        mode: UpstreamMode = .passthrough,
        trailingChecksum: TrailingChecksumForwarding? = nil,
        behaviour: FakeUpstreams.Behaviour = .immediate,
        authorizer: any RequestAuthorizer = AllowAllAuthorizer(),
        trustedProxies: TrustedProxies = .none,
        accessLog: AccessLog = AccessLog(logger: nil),
        maxObjectSize: Int64? = nil,
        digestOffload: DigestOffload? = DigestOffload()
    ) throws {
        upstreams = FakeUpstreams(loop: loop, behaviour: behaviour)
        var services = ProxyServices(
            verifier: signer.verifier,
            authorizer: authorizer,
            rewriter: UpstreamHeadRewriter(
                mode: mode,
                upstream: UpstreamEndpoint(host: "127.0.0.1", port: 9000),
                trailingChecksum: trailingChecksum
            ),
            clock: { TestSigner.now },
            logger: .disabled,
            objectSizeLimit: maxObjectSize.map(ObjectSizeLimit.init(maximum:))
        )
        services.trustedProxies = trustedProxies
        services.accessLog = accessLog
        services.digestOffload = digestOffload
        client = EmbeddedChannel(
            handlers: [counter, ProxyHandler(services: services, upstreams: upstreams)],
            loop: loop
        )
        _ = try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1234)).wait()
    }

    func send(_ method: HTTPMethod, _ uri: String, headers: [(name: String, value: String)]) throws {
        let head = HTTPRequestHead(
            version: .http1_1,
            method: method,
            uri: uri,
            headers: HTTPHeaders(headers.map { ($0.name, $0.value) })
        )
        try client.writeInbound(HTTPServerRequestPart.head(head))
    }

    func sendBody(_ text: String) throws {
        try client.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: text)))
    }

    func sendEnd() throws {
        try client.writeInbound(HTTPServerRequestPart.end(nil))
    }

    /// Everything the client has been sent so far.
    func responseParts() throws -> [HTTPServerResponsePart] {
        var parts: [HTTPServerResponsePart] = []
        while let part = try client.readOutbound(as: HTTPServerResponsePart.self) { parts.append(part) }
        return parts
    }
}

extension Array where Element == HTTPServerResponsePart {
    var statuses: [UInt] {
        compactMap { if case .head(let h) = $0 { h.status.code } else { nil } }
    }

    var bodyText: String {
        map { if case .body(.byteBuffer(let b)) = $0 { String(buffer: b) } else { "" } }.joined()
    }
}

extension Array where Element == HTTPClientRequestPart {
    var bodyText: String {
        map { if case .body(.byteBuffer(let b)) = $0 { String(buffer: b) } else { "" } }.joined()
    }

    var hasEnd: Bool { contains { if case .end = $0 { true } else { false } } }
}
