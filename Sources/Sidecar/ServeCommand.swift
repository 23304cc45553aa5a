import ArgumentParser
import DevStore
import Foundation
import Logging
import Metrics
import Prometheus
import NIOCore
import Proxy
import Verifier

/// `s3-sidecar serve`: runs the proxy until it is killed.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Listen for S3 requests, verify their SigV4 signatures, and forward verified ones upstream."
    )

    @Option(help: "Address to listen on, as host:port (\"[::1]:8080\" for IPv6). Port 0 picks a free port.")
    var listen: String = "127.0.0.1:8080"

    @Option(
        help: ArgumentHelp(
            "The backend to forward to, e.g. http://127.0.0.1:9000 (no path).",
            discussion: """
                Without it, the sidecar starts the embedded development store over --data-dir on a loopback \
                port and sits in front of it in trusted mode, with a generated key (kept in the data \
                directory) printed at start-up. The store is for development and tests, not production.
                """
        )
    )
    var upstream: String?

    @Option(help: "Embedded store only (no --upstream): the directory that holds its buckets and key file.")
    var dataDir: String = "./data"

    @Option(
        help: ArgumentHelp(
            "How forwarded requests are authenticated upstream.",
            discussion: """
                passthrough: forward the verified request unchanged (the backend checks signatures too).
                resign: strip the client's auth and sign with --upstream-access-key-id/--upstream-secret-access-key.
                trusted: strip the client's auth and add X-Sidecar-Access-Key naming the verified key.
                """
        )
    )
    var mode: Mode?

    @Option(help: "The region clients sign for (and, in resign mode, the region signed for upstream).")
    var region: String = "us-east-1"

    @Option(
        help: ArgumentHelp(
            "JSON file with the accepted keys.",
            discussion:
                #"Format: {"keys": [{"accessKeyId": "...", "secretAccessKey": "..."}]}; unknown fields are an error."#,
            valueName: "path"
        )
    )
    var credentials: String?

    @Option(
        help: ArgumentHelp(
            "resign/trusted: how a verified trailing checksum of an aws-chunked upload reaches the backend.",
            discussion: """
                aws-chunked: the decoded bytes go as unsigned aws-chunked ending in the checksum trailer \
                (default in resign mode; S3-compatible backends store and check it). drop: a plain body of \
                the decoded bytes, checksum verified here only (default in trusted mode).
                """
        )
    )
    var upstreamChecksumTrailer: TrailingChecksumForwarding?

    @Option(help: "resign mode: the backend's access key id.")
    var upstreamAccessKeyId: String?

    @Option(help: "resign mode: the backend's secret access key.")
    var upstreamSecretAccessKey: String?

    @Option(
        help: ArgumentHelp(
            "Legacy Signature Version 2 requests: accept or refuse.",
            discussion: "Refused V2 requests get S3's InvalidRequest naming AWS4-HMAC-SHA256."
        )
    )
    var sigv2: SignatureV2Policy = .accept

    @Option(
        help: ArgumentHelp(
            "Address of the admin listener, as host:port: /metrics (Prometheus), /healthz, /readyz, /auth (nginx).",
            discussion: "Off unless given. Keep it on a private address."
        )
    )
    var adminListen: String?

    @Option(help: "Seconds a client connection may stay idle before it is closed.")
    var idleTimeout: Int = 60

    @Option(help: "Seconds without progress before an upstream request is given up.")
    var upstreamTimeout: Int = 60

    @Option(help: "Upstream connections per event loop.")
    var upstreamConnections: Int = 128

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @OptionGroup(title: "Operations")
    var operations: OperationsOptions

    /// --public-url and the --cors-* options.
    @OptionGroup(title: "Browsers (presign API and CORS)")
    var browser: BrowserOptions

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case passthrough, resign, trusted
    }

    enum SignatureV2Policy: String, ExpressibleByArgument, CaseIterable {
        case accept, refuse
    }

    private static func endpoint(_ url: String) throws -> UpstreamEndpoint {
        let parsed = Result { () throws(UpstreamEndpoint.ParseError) in try UpstreamEndpoint(url: url) }
        switch parsed {
        case .success(let endpoint): return endpoint
        case .failure(let error): throw ConfigurationError(description: error.description)
        }
    }

    private static func keys(_ path: String) throws -> CredentialsFile.Keys {
        let loaded = Result { () throws(CredentialsFile.Error) in try CredentialsFile.load(path: path) }
        switch loaded {
        case .success(let keys): return keys
        case .failure(let error): throw ConfigurationError(description: error.description)
        }
    }

    /// The mode in force: trusted in front of the embedded store, passthrough by default otherwise.
    private var effectiveMode: Mode { mode ?? (upstream == nil ? .trusted : .passthrough) }

    func validate() throws {
        if upstream == nil, let mode, mode != .trusted {
            throw ValidationError("Without --upstream the embedded store runs behind the sidecar in trusted mode only.")
        }
        if upstream != nil, credentials == nil {
            throw ValidationError("--upstream needs --credentials, the file of keys clients sign with.")
        }
        let mode = effectiveMode
        if mode == .resign && (upstreamAccessKeyId == nil || upstreamSecretAccessKey == nil) {
            throw ValidationError(
                "--mode resign needs --upstream-access-key-id and --upstream-secret-access-key."
            )
        }
        if mode != .resign && (upstreamAccessKeyId != nil || upstreamSecretAccessKey != nil) {
            throw ValidationError(
                "--upstream-access-key-id and --upstream-secret-access-key apply only to --mode resign."
            )
        }
        if mode == .passthrough && upstreamChecksumTrailer != nil {
            throw ValidationError("--upstream-checksum-trailer applies only to resign and trusted (passthrough forwards the body as sent).")
        }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical.")
        }
        guard idleTimeout > 0, upstreamTimeout > 0, upstreamConnections > 0 else {
            throw ValidationError("--idle-timeout, --upstream-timeout and --upstream-connections must be positive.")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        operations.bootstrapLogging(level: level)
        // Opened first: an unwritable access log stops start-up before anything listens.
        let accessLog = try operations.makeAccessLog()
        let logger = Logger(label: "s3-sidecar")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let (host, port) = try ListenAddress.parse(listen)
        var embedded: DevStoreServer?
        let endpoint: UpstreamEndpoint
        let keys: CredentialsFile.Keys
        if let upstream {
            endpoint = try Self.endpoint(upstream)
            keys = try Self.keys(credentials ?? "")
        } else {
            let store = try await EmbeddedBackend.start(dataDirectory: dataDir, region: region, logger: logger)
            embedded = store
            endpoint = UpstreamEndpoint(host: "127.0.0.1", port: store.port)
            keys = try credentials.map(Self.keys)
                ?? CredentialsFile.Keys(credentials: EmbeddedBackend.credentials(dataDirectory: dataDir), policies: [:])
        }

        let upstreamMode: UpstreamMode
        switch effectiveMode {
        case .passthrough: upstreamMode = .passthrough
        case .trusted: upstreamMode = .trusted
        case .resign:
            upstreamMode = .resign(
                UpstreamCredentials(
                    accessKeyId: upstreamAccessKeyId ?? "",
                    secretAccessKey: upstreamSecretAccessKey ?? "",
                    region: region
                )
            )
        }

        var configuration = ProxyConfiguration(
            listen: .init(host: host, port: port),
            upstream: endpoint,
            mode: upstreamMode,
            trailingChecksum: upstreamChecksumTrailer,
            timeouts: .init(clientIdle: .seconds(Int64(idleTimeout)), upstreamRead: .seconds(Int64(upstreamTimeout))),
            pool: .init(maxConnectionsPerEventLoop: upstreamConnections)
        )
        configuration.trustedProxies = try operations.parsedTrustedProxies()
        configuration.cors = browser.cors
        let keyStore = ReloadableKeys(.init(credentials: keys.credentials, policies: keys.policies, apiKeys: keys.apiKeys))
        let verifier = SigV4Verifier(
            configuration: .init(regions: [region], acceptSignatureV2: sigv2 == .accept),
            credentials: keyStore
        )
        let server = try await ProxyServer.start(
            configuration: configuration,
            verifier: verifier,
            authorizer: keyStore,
            presignAPI: PresignAPI(
                configuration: .init(publicURL: browser.presignPublicURL, region: region),
                apiKeys: keyStore,
                credentials: keyStore,
                authorizer: keyStore
            ),
            logger: logger,
            accessLog: accessLog
        )
        // SIGHUP, or a change to the file, puts a new set of keys and policies in force.
        let reloader = CredentialsReloader(
            path: credentials ?? (dataDir as NSString).appendingPathComponent(EmbeddedBackend.credentialsFileName),
            keys: keyStore,
            logger: logger
        )
        reloader.start()
        let ip = server.localAddress.ipAddress ?? host
        let address = "\(ip.contains(":") ? "[\(ip)]" : ip):\(server.port)"
        var banner = ""
        if embedded != nil, let key = keys.credentials.first {
            banner = EmbeddedBackend.banner(
                endpoint: "http://\(address)",
                region: region,
                credential: key,
                dataDirectory: dataDir
            )
        }
        var adminLine = ""
        if let adminListen {
            let (adminHost, adminPort) = try ListenAddress.parse(adminListen)
            // The proxy's own verifier and key store: a reload applies to /auth as well.
            let auth = AuthRequestEndpoint(
                verifier: verifier,
                authorizer: keyStore,
                configuration: .init(requireUnsignedPayload: operations.authRequireUnsignedPayload),
                accessLog: accessLog
            )
            let admin = try await AdminServer.start(
                host: adminHost,
                port: adminPort,
                registry: registry,
                auth: auth,
                logger: logger
            )
            adminLine = "s3-sidecar admin on \(adminHost.contains(":") ? "[\(adminHost)]" : adminHost):\(admin.port)\n"
        }
        // Unbuffered, so a supervisor reading the port (with --listen ...:0) sees it at once.
        FileHandle.standardOutput.write(Data((banner + adminLine + "s3-sidecar listening on \(address)\n").utf8))
        try await server.run()
        try await embedded?.shutdown()
    }
}

extension TrailingChecksumForwarding: ExpressibleByArgument {}

/// A configuration problem found while starting: printed as `Error: …`, without the usage text.
struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
}
