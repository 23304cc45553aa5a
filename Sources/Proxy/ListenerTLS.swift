import NIOCore
import NIOSSL
import Synchronization

/// TLS for the client listener: the certificate chain and key from PEM files, swappable while the server
/// runs. Each new connection takes the context in force when it is accepted; a reload that fails leaves the
/// old one in force.
public final class ListenerTLS: Sendable {
    /// The files the context was made from.
    public let certificatePath: String
    public let keyPath: String
    private let current: Mutex<NIOSSLContext>

    /// Loads the pair now: a missing file, a bad PEM or a key that does not match the certificate throws.
    public init(certificatePath: String, keyPath: String) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        current = Mutex(try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath))
    }

    /// The context for a connection accepted now.
    public var context: NIOSSLContext { current.withLock { $0 } }

    /// Reads the files again and puts the new pair in force for new connections; on error the old one stays.
    public func reload() throws {
        let fresh = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath)
        current.withLock { $0 = fresh }
    }

    /// A server context for a PEM certificate chain (leaf first) and its PEM private key, speaking HTTP/1.1
    /// over ALPN. BoringSSL refuses a key that does not belong to the leaf certificate.
    public static func makeContext(certificatePath: String, keyPath: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        guard !chain.isEmpty else { throw ListenerTLSError(description: "\(certificatePath) holds no certificate") }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A TLS file problem that NIOSSL does not name itself.
public struct ListenerTLSError: Error, CustomStringConvertible {
    public var description: String
}

extension ChannelPipeline.SynchronousOperations {
    /// Whether the connection came in through the TLS listener (NIOSSL's server handler is in its pipeline):
    /// the scheme of URLs the sidecar names for it.
    var isTLSConnection: Bool { (try? handler(type: NIOSSLServerHandler.self)) != nil }
}

