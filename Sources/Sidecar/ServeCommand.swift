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

    @Option(
        help: ArgumentHelp(
            "A JSON or YAML configuration file holding any of these options (keys are the flags in camelCase).",
            discussion: """
                YAML when the name ends in .yaml or .yml, JSON otherwise. Precedence: flags, then environment \
                variables, then this file, then defaults. A repeatable flag replaces the file's list. Without \
                this flag, S3_SIDECAR_CONFIG names the file.
                """,
            valueName: "path"
        )
    )
    var config: String?

    @Option(
        help: """
            Address to listen on, as host:port ("[::1]:8080" for IPv6). Port 0 picks a free port. \
            \(ServeSettings.helpDefault(\.listen))
            """
    )
    var listen: String?

    @Option(
        help: ArgumentHelp(
            "The backend to forward to, e.g. http://127.0.0.1:9000 or https://minio.internal (no path).",
            discussion: """
                Without it, the sidecar starts the embedded development store over --data-dir on a loopback \
                port and sits in front of it in trusted mode, with a generated key (kept in the data \
                directory) printed at start-up. The store is for development and tests, not production.
                """
        )
    )
    var upstream: String?

    @Option(
        name: .customLong("upstream-ca"),
        help: ArgumentHelp(
            "https upstream: a PEM bundle of CA certificates to trust instead of the system's.",
            valueName: "path"
        )
    )
    var upstreamCa: String?

    @Option(
        help: """
            Embedded store only (no --upstream): the directory that holds its buckets and key file. \
            \(ServeSettings.helpDefault(\.dataDir))
            """
    )
    var dataDir: String?

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
    var mode: ServeOptions.Mode?

    @Option(
        help: """
            The region clients sign for (and, in resign mode, the region signed for upstream). \
            \(ServeSettings.helpDefault(\.region))
            """
    )
    var region: String?

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

    @Option(help: "resign mode: the backend's access key id (or S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID).")
    var upstreamAccessKeyId: String?

    @Option(
        help: """
            resign mode: the backend's secret access key (better: \
            S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY or a file).
            """
    )
    var upstreamSecretAccessKey: String?

    @Option(help: ArgumentHelp("resign mode: a file holding the backend's secret access key.", valueName: "path"))
    var upstreamSecretAccessKeyFile: String?

    @Option(
        help: ArgumentHelp(
            "Legacy Signature Version 2 requests: accept or refuse. \(ServeSettings.helpDefault(\.sigv2))",
            discussion: "Refused V2 requests get S3's InvalidRequest naming AWS4-HMAC-SHA256."
        )
    )
    var sigv2: ServeOptions.SignatureV2Policy?

    @Option(
        help: ArgumentHelp(
            "Address of the admin listener, as host:port: /metrics (Prometheus), /healthz, /readyz, /auth (nginx).",
            discussion: "Off unless given. Keep it on a private address."
        )
    )
    var adminListen: String?

    @Option(help: ArgumentHelp("TLS on the listener: the PEM certificate chain (leaf first).", valueName: "path"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS on the listener: the PEM private key of the certificate.", valueName: "path"))
    var tlsKey: String?

    @Option(
        help: """
            Seconds a client connection may stay idle (also: a stalled request body) before it is \
            closed. \(ServeSettings.helpDefault(\.idleTimeout))
            """
    )
    var idleTimeout: Int?

    @Option(
        help: """
            Seconds a client may take to send a request head once it has begun it. \
            \(ServeSettings.helpDefault(\.headerTimeout))
            """
    )
    var headerTimeout: Int?

    @Option(
        help: """
            Seconds without progress before an upstream request is given up. \
            \(ServeSettings.helpDefault(\.upstreamTimeout))
            """
    )
    var upstreamTimeout: Int?

    @Option(help: "Upstream connections per event loop. \(ServeSettings.helpDefault(\.upstreamConnections))")
    var upstreamConnections: Int?

    @Option(
        help: """
            On SIGTERM/SIGINT: seconds requests in flight may take to finish before connections are \
            closed. \(ServeSettings.helpDefault(\.drainTimeout))
            """
    )
    var drainTimeout: Int?

    @Option(
        help: """
            Open client connections at most; more wait in the listen backlog until one closes. \
            [default: no limit]
            """
    )
    var maxConnections: Int?

    @Option(help: "Largest object a PUT may upload, in bytes; larger ones get EntityTooLarge. [default: no limit]")
    var maxObjectSize: Int64?

    @Option(
        help: """
            Log level: trace, debug, info, notice, warning, error, critical. \
            \(ServeSettings.helpDefault(\.logLevel))
            """
    )
    var logLevel: String?

    @OptionGroup(title: "Operations")
    var operations: OperationsOptions

    /// --public-url and the --cors-* options.
    @OptionGroup(title: "Browsers (presign API and CORS)")
    var browser: BrowserOptions

    /// The layer the flags give: every option above whose property is named after a key (read off the parsed
    /// command, so a new option needs no line here).
    var flagSettings: ServeSettings { ServeSettings(commandLine: self) }

    /// Flags, environment, configuration file and defaults, as one reader gives them.
    var layers: ConfigurationLayers {
        ConfigurationLayers(flags: flagSettings, configFile: configFile)
    }

    /// `--config`, else `S3_SIDECAR_CONFIG`.
    var configFile: String? {
        config ?? ProcessInfo.processInfo.environment[ServeSettings.configFileVariable].flatMap { $0.isEmpty ? nil : $0 }
    }

    private static func keys(_ path: String) throws -> CredentialsFile.Keys {
        let loaded = Result { () throws(CredentialsFile.Error) in try CredentialsFile.load(path: path) }
        switch loaded {
        case .success(let keys): return keys
        case .failure(let error): throw ConfigurationError(description: error.description)
        }
    }

    func run() async throws {
        let settings: ServeSettings
        let options: ServeOptions
        do throws(ConfigurationFieldError) {
            settings = try layers.settings()
            options = try ServeOptions.resolve(settings)
        } catch {
            throw ConfigurationError(error)
        }
        OperationsOptions.bootstrapLogging(format: options.logFormat, level: options.logLevel)
        // Opened first: an unwritable access log stops start-up before anything listens.
        let accessLog = try OperationsOptions.makeAccessLog(path: options.accessLog, format: options.logFormat)
        let logger = Logger(label: "s3-sidecar")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let region = options.region
        let dataDir = options.dataDir
        var embedded: DevStoreServer?
        let endpoint: UpstreamEndpoint
        let keys: CredentialsFile.Keys
        if let upstream = options.upstream {
            endpoint = upstream
            keys = try Self.keys(options.credentials ?? "")
        } else {
            let store = try await EmbeddedBackend.start(dataDirectory: dataDir, region: region, logger: logger)
            embedded = store
            endpoint = UpstreamEndpoint(host: "127.0.0.1", port: store.port)
            keys = try options.credentials.map(Self.keys)
                ?? CredentialsFile.Keys(credentials: EmbeddedBackend.credentials(dataDirectory: dataDir), policies: [:])
        }

        var tls: ListenerTLS?
        if let cert = options.tlsCert, let key = options.tlsKey {
            do {
                tls = try ListenerTLS(certificatePath: cert, keyPath: key)
            } catch {
                throw ConfigurationError(description: "tlsCert/tlsKey: cannot load \(cert) and \(key): \(error)")
            }
        }

        let configuration = options.proxyConfiguration(upstream: endpoint, tls: tls)
        let keyStore = ReloadableKeys(keys.snapshot, logger: logger)
        let verifier = SigV4Verifier(configuration: options.verifierConfiguration, credentials: keyStore)
        let server = try await ProxyServer.start(
            configuration: configuration,
            verifier: verifier,
            authorizer: keyStore,
            presignAPI: PresignAPI(
                configuration: options.presignConfiguration,
                apiKeys: keyStore,
                credentials: keyStore,
                authorizer: keyStore
            ),
            logger: logger,
            accessLog: accessLog
        )
        // SIGHUP, or a change to the file, puts a new set of keys and policies in force (and a new TLS pair).
        let reloader = CredentialsReloader(
            path: options.credentials ?? (dataDir as NSString).appendingPathComponent(EmbeddedBackend.credentialsFileName),
            keys: keyStore,
            tls: tls,
            onSignal: restartNotice(running: settings, logger: logger),
            logger: logger
        )
        reloader.start()
        let host = options.listenHost
        let ip = server.localAddress.ipAddress ?? host
        let address = "\(ip.contains(":") ? "[\(ip)]" : ip):\(server.port)"
        var banner = ""
        if embedded != nil, let key = keys.credentials.first {
            banner = EmbeddedBackend.banner(
                endpoint: "\(tls == nil ? "http" : "https")://\(address)",
                region: region,
                credential: key,
                dataDirectory: dataDir
            )
        }
        var adminLine = ""
        var admin: AdminServer?
        let readiness = Readiness(upstreamHost: endpoint.host, upstreamPort: endpoint.port)
        if let adminListen = options.adminListen {
            let (adminHost, adminPort) = try ListenAddress.parse(adminListen)
            // The proxy's own verifier and key store: a reload applies to /auth as well.
            let auth = AuthRequestEndpoint(
                verifier: verifier,
                authorizer: keyStore,
                configuration: options.authRequestConfiguration,
                accessLog: accessLog
            )
            let started = try await AdminServer.start(
                host: adminHost,
                port: adminPort,
                registry: registry,
                auth: auth,
                readiness: readiness,
                logger: logger
            )
            admin = started
            adminLine = "s3-sidecar admin on \(adminHost.contains(":") ? "[\(adminHost)]" : adminHost):\(started.port)\n"
        }
        // Unbuffered, so a supervisor reading the port (with --listen ...:0) sees it at once.
        FileHandle.standardOutput.write(Data((banner + adminLine + "s3-sidecar listening on \(address)\n").utf8))
        try await SidecarService.run(
            server: server,
            drainTimeout: options.drainDuration,
            onDrain: { readiness.markDraining() },
            logger: logger
        )
        try? await admin?.channel.close()
        try await embedded?.shutdown()
        logger.notice("stopped")
    }
}

extension ServeCommand {
    /// With a configuration file: what SIGHUP also does, beyond reloading keys and TLS.
    func restartNotice(running: ServeSettings, logger: Logger) -> (@Sendable () -> Void)? {
        guard configFile != nil else { return nil }
        let layers = layers
        return { Self.noteRestartNeeded(layers: layers, running: running, logger: logger) }
    }

    /// On SIGHUP: the credentials and TLS files are reloaded, nothing else. If the layers (the configuration
    /// file, read again) now say something else for another option, say that it needs a restart (rather
    /// than ignore it quietly).
    static func noteRestartNeeded(layers: ConfigurationLayers, running: ServeSettings, logger: Logger) {
        let now: ServeSettings
        do throws(ConfigurationFieldError) {
            now = try layers.settings()
        } catch {
            logger.error("configuration file not valid; nothing of it was applied", metadata: ["error": "\(error)"])
            return
        }
        let changed = now.changedFields(from: running)
        if !changed.isEmpty {
            logger.warning(
                """
                configuration file changed options that apply only after a restart; SIGHUP reloads the \
                credentials and TLS files only
                """,
                metadata: ["config.changed": "\(changed.joined(separator: ","))"]
            )
        }
    }
}

extension TrailingChecksumForwarding: ExpressibleByArgument {}
extension ServeOptions.Mode: ExpressibleByArgument {}
extension ServeOptions.SignatureV2Policy: ExpressibleByArgument {}

/// A configuration problem found while starting: printed as `Error: …`, without the usage text.
struct ConfigurationError: Error, CustomStringConvertible {
    var description: String

    init(description: String) {
        self.description = description
    }

    /// A field's error, naming the configuration file when the bad value is the file's.
    init(_ error: ConfigurationFieldError) {
        if let source = error.source, source != "environment" {
            description = "configuration file \(source): \(error.description)"
        } else {
            description = error.description
        }
    }
}
