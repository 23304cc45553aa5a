import ArgumentParser
import Logging
import Proxy

/// The operator-facing flags of `serve` for logs, the access log, trusted proxies and the nginx
/// `auth_request` endpoint, and how they become the proxy's values. Flags only say what was given (`nil`,
/// empty, `false`: not given); each property is named after its configuration key, the flags join the other
/// layers in `ConfigurationLayers`, and `ServeOptions.resolve` checks the merged values.
struct OperationsOptions: ParsableArguments {
    @Option(
        help: "Log line format: text or json (one JSON object per line). \(ServeSettings.helpDefault(\.logFormat))"
    )
    var logFormat: LineLogHandler.Format?

    @Option(
        help: ArgumentHelp(
            "The access log: off, - (with the other log lines, on standard error) or a file to append to. "
                + ServeSettings.helpDefault(\.accessLog),
            discussion: """
                One line per request in --log-format: request id, access key id, auth form, signature version, \
                bucket, key, action, status, S3 error code, bytes in and out, duration, upstream status, remote \
                address. The path is logged, never the query, a secret, a signature or an Authorization value.
                """,
            valueName: "off|-|file"
        )
    )
    var accessLog: String?

    /// `--access-log` values that are not file names.
    static let accessLogWords: Set<String> = ["off", "-", ""]

    @Option(
        name: .customLong("trusted-proxy"),
        help: ArgumentHelp(
            "A reverse proxy (address or CIDR block) whose X-Forwarded-Host/-Proto/-Prefix are believed; repeatable.",
            discussion: """
                From these peers, signatures are verified against Host = X-Forwarded-Host and path = \
                X-Forwarded-Prefix + path. From anyone else those headers are ignored. Off unless given.
                """,
            valueName: "cidr"
        )
    )
    var trustedProxy: [String] = []

    @Flag(
        help: ArgumentHelp(
            "/auth (nginx auth_request) refuses any request whose body is covered by a signed payload hash.",
            discussion: """
                /auth never sees the body, so it cannot check a payload hash; without this flag the backend must. \
                With it, only UNSIGNED-PAYLOAD (presigned URLs) and body-less requests pass.
                """
        )
    )
    var authRequireUnsignedPayload = false

    /// Installs the process-wide log handler.
    static func bootstrapLogging(format: LineLogHandler.Format, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                return LineLogHandler(label: label, format: .json, output: .standardError, level: level)
            }
        }
    }

    /// The access log `path` asks for (off, -, or a file), its lines in `format` (its metrics are counted
    /// even when it is off).
    static func makeAccessLog(path: String, format: LineLogHandler.Format) throws -> AccessLog {
        switch path {
        case "off", "":
            return AccessLog(logger: nil)
        case "-":
            return AccessLog(
                logger: Logger(label: "s3-sidecar.access") { label in
                    LineLogHandler(label: label, format: format, output: .standardError)
                }
            )
        default:
            let output = try LogOutput.appending(to: path)
            return AccessLog(
                logger: Logger(label: "s3-sidecar.access") { label in
                    LineLogHandler(label: label, format: format, output: output)
                }
            )
        }
    }
}

extension LineLogHandler.Format: ExpressibleByArgument {}
