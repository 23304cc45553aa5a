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
            "A JSON configuration file holding any of these options (keys are the flags in camelCase).",
            discussion: """
                Precedence: flags, then environment variables, then this file, then defaults. A repeatable flag \
                replaces the file's list. Without this flag, S3_SIDECAR_CONFIG names the file.
                """,
            valueName: "path"
        )
    )
    var config: String?

    @Option(
        help: """
            Address to listen on, as host:port ("[::1]:8080" for IPv6). Port 0 picks a free port. \
            [default: \(ServeOptions.defaultListen)]
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
            [default: ./data]
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
            [default: us-east-1]
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
            "Legacy Signature Version 2 requests: accept or refuse.",
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
            closed. [default: 60]
            """
    )
    var idleTimeout: Int?

    @Option(help: "Seconds a client may take to send a request head once it has begun it. [default: 30]")
    var headerTimeout: Int?

    @Option(help: "Seconds without progress before an upstream request is given up. [default: 60]")
    var upstreamTimeout: Int?

    @Option(help: "Upstream connections per event loop. [default: 128]")
    var upstreamConnections: Int?

    @Option(
        help: """
            On SIGTERM/SIGINT: seconds requests in flight may take to finish before connections are \
            closed. [default: 30]
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

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [default: info]")
    var logLevel: String?

    @OptionGroup(title: "Operations")
    var operations: OperationsOptions

    /// --public-url and the --cors-* options.
    @OptionGroup(title: "Browsers (presign API and CORS)")
    var browser: BrowserOptions

    /// The layer the flags give: one line per option.
    var flagSettings: ServeSettings {
        var s = ServeSettings()
        s.listen = listen
        s.upstream = upstream
        s.upstreamCa = upstreamCa
        s.dataDir = dataDir
        s.mode = mode?.rawValue
        s.region = region
        s.credentials = credentials
        s.upstreamAccessKeyId = upstreamAccessKeyId
        s.upstreamSecretAccessKey = upstreamSecretAccessKey
        s.upstreamSecretAccessKeyFile = upstreamSecretAccessKeyFile
        s.sigv2 = sigv2?.rawValue
        s.adminListen = adminListen
        s.tlsCert = tlsCert
        s.tlsKey = tlsKey
        s.idleTimeout = idleTimeout
        s.headerTimeout = headerTimeout
        s.upstreamTimeout = upstreamTimeout
        s.upstreamConnections = upstreamConnections
        s.drainTimeout = drainTimeout
        s.maxConnections = maxConnections
        s.maxObjectSize = maxObjectSize
        s.upstreamChecksumTrailer = upstreamChecksumTrailer?.rawValue
        s.logLevel = logLevel
        s.logFormat = operations.logFormat?.rawValue
        s.accessLog = operations.accessLog
        s.trustedProxy = operations.trustedProxies.isEmpty ? nil : operations.trustedProxies
        s.authRequireUnsignedPayload = operations.authRequireUnsignedPayload ? true : nil
        s.publicUrl = browser.publicURL
        s.corsOrigin = browser.corsOrigins.isEmpty ? nil : browser.corsOrigins
        s.corsMethod = browser.corsMethods.isEmpty ? nil : browser.corsMethods
        s.corsAllowHeader = browser.corsAllowHeaders.isEmpty ? nil : browser.corsAllowHeaders
        s.corsExposeHeader = browser.corsExposeHeaders.isEmpty ? nil : browser.corsExposeHeaders
        s.corsMaxAge = browser.corsMaxAge
        return s
    }

    /// Flags over environment over the configuration file (defaults come in `ServeOptions.resolve`).
    func mergedSettings() throws -> ServeSettings {
        var file = ServeSettings()
        if let config = configFile {
            do throws(ConfigurationFieldError) {
                file = try ServeSettings.load(configFile: config)
            } catch {
                throw ConfigurationError(description: "configuration file \(config): \(error.description)")
            }
        }
        return flagSettings.overlaid(on: ServeSettings.fromEnvironment().overlaid(on: file))
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
        let settings = try mergedSettings()
        let options: ServeOptions
        do throws(ConfigurationFieldError) {
            options = try ServeOptions.resolve(settings)
        } catch {
            throw ConfigurationError(description: error.description)
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

        let upstreamMode: UpstreamMode
        switch options.mode {
        case .passthrough: upstreamMode = .passthrough
        case .trusted: upstreamMode = .trusted
        case .resign:
            upstreamMode = .resign(
                UpstreamCredentials(
                    accessKeyId: options.upstreamAccessKeyId ?? "",
                    secretAccessKey: options.upstreamSecretAccessKey ?? "",
                    region: region
                )
            )
        }

        var tls: ListenerTLS?
        if let cert = options.tlsCert, let key = options.tlsKey {
            do {
                tls = try ListenerTLS(certificatePath: cert, keyPath: key)
            } catch {
                throw ConfigurationError(description: "tlsCert/tlsKey: cannot load \(cert) and \(key): \(error)")
            }
        }

        var configuration = ProxyConfiguration(
            listen: .init(host: options.listenHost, port: options.listenPort, tls: tls),
            upstream: endpoint,
            mode: upstreamMode,
            trailingChecksum: options.upstreamChecksumTrailer,
            timeouts: .init(
                clientIdle: .seconds(Int64(options.idleTimeout)),
                upstreamRead: .seconds(Int64(options.upstreamTimeout)),
                clientHead: .seconds(Int64(options.headerTimeout))
            ),
            limits: .init(maxConnections: options.maxConnections, maxObjectSize: options.maxObjectSize),
            pool: .init(maxConnectionsPerEventLoop: options.upstreamConnections),
            upstreamCAFile: options.upstreamCa
        )
        configuration.trustedProxies = options.trustedProxies
        configuration.cors = options.cors
        let keyStore = ReloadableKeys(keys.snapshot, logger: logger)
        let verifier = SigV4Verifier(
            configuration: .init(regions: [region], acceptSignatureV2: options.sigv2 == .accept),
            credentials: keyStore
        )
        let server = try await ProxyServer.start(
            configuration: configuration,
            verifier: verifier,
            authorizer: keyStore,
            presignAPI: PresignAPI(
                configuration: .init(publicURL: options.publicURL, region: region),
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
                configuration: .init(requireUnsignedPayload: options.authRequireUnsignedPayload),
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
            drainTimeout: .seconds(Int64(options.drainTimeout)),
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
        guard let config = configFile else { return nil }
        let flags = flagSettings
        return { Self.noteRestartNeeded(configFile: config, flags: flags, running: running, logger: logger) }
    }

    /// On SIGHUP: the credentials and TLS files are reloaded, nothing else. If the configuration file now
    /// says something else for another option, say that it needs a restart (rather than ignore it quietly).
    static func noteRestartNeeded(configFile: String, flags: ServeSettings, running: ServeSettings, logger: Logger) {
        let file: ServeSettings
        do throws(ConfigurationFieldError) {
            file = try ServeSettings.load(configFile: configFile)
        } catch {
            logger.error("configuration file not valid; nothing of it was applied", metadata: ["error": "\(error)"])
            return
        }
        let now = flags.overlaid(on: ServeSettings.fromEnvironment().overlaid(on: file))
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
}
