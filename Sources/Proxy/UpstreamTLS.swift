import NIOCore
import NIOSSL
import NIOTLS

/// The client side of TLS to an `https` upstream: the system's trust roots, or a private CA bundle.
public enum UpstreamTLS {
    /// A client context that verifies the upstream's certificate chain and name (full verification).
    ///
    /// - Parameter caFile: A PEM bundle of CA certificates to trust instead of the system's roots.
    public static func makeContext(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        if let caFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }
}

/// Holds an upstream connection back from the pool until its TLS handshake is done, so a certificate the
/// sidecar does not trust fails the connect (and the client gets a `502`) instead of a request mid-flight.
final class UpstreamTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) {
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Passed on before this handler leaves: once removed, its context no longer reaches the next one.
        context.fireUserInboundEventTriggered(event)
        if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent {
            done.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // A promise completes once; after success this is a no-op, otherwise it must not be left pending.
        done.fail(ChannelError.ioOnClosedChannel)
    }
}
