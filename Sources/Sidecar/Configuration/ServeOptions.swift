import Foundation
import Logging
import Proxy

/// The `serve` options in force: the merged settings checked, with defaults filled in. Every check names
/// the field it refused, as the configuration file spells it.
struct ServeOptions {
    enum Mode: String, CaseIterable { case passthrough, resign, trusted }
    enum SignatureV2Policy: String, CaseIterable { case accept, refuse }

    var listenHost: String
    var listenPort: Int
    var listen: String
    var upstream: UpstreamEndpoint?
    var upstreamCa: String?
    var dataDir: String
    var mode: Mode
    var region: String
    var credentials: String?
    var upstreamAccessKeyId: String?
    var upstreamSecretAccessKey: String?
    var sigv2: SignatureV2Policy
    var adminListen: String?
    var tlsCert: String?
    var tlsKey: String?
    var idleTimeout: Int
    var headerTimeout: Int
    var upstreamTimeout: Int
    var upstreamConnections: Int
    var drainTimeout: Int
    var maxConnections: Int?
    var maxObjectSize: Int64?
    /// `nil`: the mode's default.
    var upstreamChecksumTrailer: TrailingChecksumForwarding?
    var logLevel: Logger.Level
    var logFormat: LineLogHandler.Format
    /// off, - or a file (opened at start: an unwritable one stops start-up, not `resolve`).
    var accessLog: String
    var trustedProxies: TrustedProxies
    var authRequireUnsignedPayload: Bool
    var publicURL: PresignAPI.PublicURL?
    /// `nil` without any `corsOrigin`.
    var cors: CORSConfiguration?

    /// Checks `settings` and fills in defaults (``ServeSettings/defaults``): the one validation step of the
    /// options, whatever layer they came from. Files are only checked to be readable where the value is
    /// read at once (the upstream secret file); the credentials and TLS files are loaded by the caller.
    static func resolve(_ settings: ServeSettings) throws(ConfigurationFieldError) -> ServeOptions {
        func fail(_ field: String, _ message: String) -> ConfigurationFieldError {
            ConfigurationFieldError(field: field, message: message)
        }
        func positive(_ key: KeyPath<ServeSettings, Int?>, _ field: String) throws(ConfigurationFieldError) -> Int {
            let value = settings.defaulted(key)
            guard value > 0 else { throw fail(field, "must be a positive number, got \(value)") }
            return value
        }

        let listen = settings.defaulted(\.listen)
        let parsedListen: (host: String, port: Int)
        do {
            parsedListen = try ListenAddress.parse(listen)
        } catch {
            throw fail("listen", "\(error)")
        }
        if let admin = settings.adminListen {
            do { _ = try ListenAddress.parse(admin) } catch { throw fail("adminListen", "\(error)") }
        }

        var upstream: UpstreamEndpoint?
        if let url = settings.upstream {
            do throws(UpstreamEndpoint.ParseError) {
                upstream = try UpstreamEndpoint(url: url)
            } catch {
                throw fail("upstream", error.description)
            }
        }
        if settings.upstreamCa != nil && upstream?.scheme != .https {
            throw fail("upstreamCa", "applies only to an https:// upstream")
        }

        var mode = Mode.passthrough
        if let text = settings.mode {
            guard let parsed = Mode(rawValue: text) else {
                throw fail("mode", "must be passthrough, resign or trusted, got \"\(text)\"")
            }
            mode = parsed
        } else if upstream == nil {
            mode = .trusted
        }
        if upstream == nil && mode != .trusted {
            throw fail("mode", "without upstream the embedded store runs behind the sidecar in trusted mode only")
        }
        if upstream != nil && settings.credentials == nil {
            throw fail("credentials", "an upstream needs a credentials file, the keys clients sign with")
        }

        let secret = try Self.secret(
            settings.upstreamSecretAccessKey,
            orFile: settings.upstreamSecretAccessKeyFile,
            "upstreamSecretAccessKeyFile"
        )
        if mode == .resign {
            guard settings.upstreamAccessKeyId != nil else {
                throw fail("upstreamAccessKeyId", "resign mode needs the backend's access key id")
            }
            guard secret != nil else {
                throw fail("upstreamSecretAccessKey", "resign mode needs the backend's secret access key")
            }
        } else if settings.upstreamAccessKeyId != nil || secret != nil {
            throw fail(
                settings.upstreamAccessKeyId != nil ? "upstreamAccessKeyId" : "upstreamSecretAccessKey",
                "applies only to resign mode"
            )
        }

        let sigv2Text = settings.defaulted(\.sigv2)
        guard let sigv2 = SignatureV2Policy(rawValue: sigv2Text) else {
            throw fail("sigv2", "must be accept or refuse, got \"\(sigv2Text)\"")
        }
        if (settings.tlsCert == nil) != (settings.tlsKey == nil) {
            throw fail(settings.tlsCert == nil ? "tlsCert" : "tlsKey", "TLS needs both a certificate and a key file")
        }
        let levelText = settings.defaulted(\.logLevel)
        guard let level = Logger.Level(rawValue: levelText) else {
            throw fail("logLevel", "must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let max = settings.maxConnections, max <= 0 { throw fail("maxConnections", "must be positive") }
        if let max = settings.maxObjectSize, max < 0 { throw fail("maxObjectSize", "must not be negative") }
        if let region = settings.region, region.isEmpty { throw fail("region", "must not be empty") }
        let browserAndOperations = try resolveOperationsAndBrowser(settings)
        var trailer: TrailingChecksumForwarding?
        if let text = settings.upstreamChecksumTrailer {
            guard let parsed = TrailingChecksumForwarding(rawValue: text) else {
                throw fail("upstreamChecksumTrailer", "must be aws-chunked or drop, got \"\(text)\"")
            }
            guard mode != .passthrough else {
                throw fail(
                    "upstreamChecksumTrailer",
                    "applies only to resign and trusted (passthrough forwards the body as sent)"
                )
            }
            trailer = parsed
        }

        return ServeOptions(
            listenHost: parsedListen.host,
            listenPort: parsedListen.port,
            listen: listen,
            upstream: upstream,
            upstreamCa: settings.upstreamCa,
            dataDir: settings.defaulted(\.dataDir),
            mode: mode,
            region: settings.defaulted(\.region),
            credentials: settings.credentials,
            upstreamAccessKeyId: settings.upstreamAccessKeyId,
            upstreamSecretAccessKey: secret,
            sigv2: sigv2,
            adminListen: settings.adminListen,
            tlsCert: settings.tlsCert,
            tlsKey: settings.tlsKey,
            idleTimeout: try positive(\.idleTimeout, "idleTimeout"),
            headerTimeout: try positive(\.headerTimeout, "headerTimeout"),
            upstreamTimeout: try positive(\.upstreamTimeout, "upstreamTimeout"),
            upstreamConnections: try positive(\.upstreamConnections, "upstreamConnections"),
            drainTimeout: try positive(\.drainTimeout, "drainTimeout"),
            maxConnections: settings.maxConnections,
            maxObjectSize: settings.maxObjectSize,
            upstreamChecksumTrailer: trailer,
            logLevel: level,
            logFormat: browserAndOperations.logFormat,
            accessLog: browserAndOperations.accessLog,
            trustedProxies: browserAndOperations.trustedProxies,
            authRequireUnsignedPayload: browserAndOperations.authRequireUnsignedPayload,
            publicURL: browserAndOperations.publicURL,
            cors: browserAndOperations.cors
        )
    }

    /// A secret given as a value or as a file holding it (`fileField` names the file's key), never both. The
    /// file is read now; its value is never quoted in an error.
    static func secret(
        _ value: String?,
        orFile file: String?,
        _ fileField: String
    ) throws(ConfigurationFieldError) -> String? {
        guard let file else { return value }
        if value != nil {
            throw ConfigurationFieldError(field: fileField, message: "give the secret or a file holding it, not both")
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConfigurationFieldError(field: fileField, message: "cannot read \(file)")
        }
        // A trailing newline is an editor's, not the secret's.
        let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw ConfigurationFieldError(field: fileField, message: "\(file) is empty") }
        return secret
    }

    /// The operations and browser keys, checked: list elements are named as `trustedProxy[2]`.
    private static func resolveOperationsAndBrowser(
        _ settings: ServeSettings
    ) throws(ConfigurationFieldError) -> (
        logFormat: LineLogHandler.Format, accessLog: String, trustedProxies: TrustedProxies,
        authRequireUnsignedPayload: Bool, publicURL: PresignAPI.PublicURL?, cors: CORSConfiguration?
    ) {
        let formatText = settings.defaulted(\.logFormat)
        guard let logFormat = LineLogHandler.Format(rawValue: formatText) else {
            throw ConfigurationFieldError(field: "logFormat", message: "must be text or json, got \"\(formatText)\"")
        }
        var blocks: [TrustedProxies.CIDR] = []
        for (index, text) in (settings.trustedProxy ?? []).enumerated() {
            do {
                blocks.append(try TrustedProxies.CIDR(text))
            } catch {
                throw ConfigurationFieldError(field: "trustedProxy[\(index)]", message: error.description)
            }
        }
        var publicURL: PresignAPI.PublicURL?
        if let text = settings.publicUrl { publicURL = try BrowserOptions.parsePublicURL(text) }
        let origins = settings.corsOrigin ?? []
        for (index, origin) in origins.enumerated() where !BrowserOptions.isOrigin(origin) {
            throw ConfigurationFieldError(
                field: "corsOrigin[\(index)]",
                message: "\"\(origin)\" is not an origin such as https://app.example.com"
            )
        }
        let maxAge = settings.defaulted(\.corsMaxAge)
        guard maxAge >= 0 else { throw ConfigurationFieldError(field: "corsMaxAge", message: "must not be negative") }
        return (
            logFormat,
            settings.defaulted(\.accessLog),
            TrustedProxies(blocks),
            settings.defaulted(\.authRequireUnsignedPayload),
            publicURL,
            BrowserOptions.cors(
                origins: origins,
                methods: settings.corsMethod ?? [],
                allowHeaders: settings.corsAllowHeader ?? [],
                exposeHeaders: settings.corsExposeHeader ?? [],
                maxAge: maxAge
            )
        )
    }
}
