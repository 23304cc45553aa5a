import Foundation
import NIOCore
import Verifier

@testable import Proxy

/// The proxy on loopback port 0 in front of a recording upstream, for end-to-end tests driven by plain
/// sockets: `body` gets the running server and the upstream, and the server is closed afterwards whatever
/// happens.
func withLoopbackProxy(
    signer: TestSigner = TestSigner(),
    mode: UpstreamMode = .passthrough,
    upstreamPort: Int? = nil,
    dropSecondRequest: Bool = false,
    configure: (inout ProxyConfiguration) -> Void = { _ in },
    _ body: (ProxyServer, RecordingUpstream) async throws -> Void
) async throws {
    let upstream = try RecordingUpstream(dropSecondRequest: dropSecondRequest)
    defer { upstream.stop() }
    var configuration = ProxyConfiguration(
        listen: .init(host: "127.0.0.1", port: 0),
        upstream: UpstreamEndpoint(host: "127.0.0.1", port: upstreamPort ?? upstream.port),
        mode: mode
    )
    configuration.timeouts.upstreamConnect = .seconds(2)
    configure(&configuration)
    let server = try await ProxyServer.start(
        configuration: configuration,
        verifier: signer.verifier,
        clock: { TestSigner.now },
        logger: .disabled
    )
    do {
        try await body(server, upstream)
    } catch {
        try await server.close()
        throw error
    }
    try await server.close()
}

/// The three upstream modes, for tests that hold in each.
let everyUpstreamMode: [UpstreamMode] = [
    .passthrough,
    .trusted,
    .resign(UpstreamCredentials(accessKeyId: "BACKEND", secretAccessKey: "backend-secret", region: "us-east-1")),
]
