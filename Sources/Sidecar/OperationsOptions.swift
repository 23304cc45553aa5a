import ArgumentParser
import Logging
import Proxy

/// The operator-facing flags of `serve` for logs, the access log, trusted proxies and the nginx
/// `auth_request` endpoint, and how they become the proxy's values.
struct OperationsOptions: ParsableArguments {
    @Option(help: "Log line format: text (the default) or json (one JSON object per line).")
    var logFormat: LineLogHandler.Format = .text

    @Option(
        help: ArgumentHelp(
            "The access log: off, - (with the other log lines, on standard error) or a file to append to.",
            discussion: """
                One line per request in --log-format: request id, access key id, auth form, signature version, \
                bucket, key, action, status, S3 error code, bytes in and out, duration, upstream status, remote \
                address. The path is logged, never the query, a secret, a signature or an Authorization value.
                """,
            valueName: "off|-|file"
        )
    )
    var accessLog: String = "off"

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
    var trustedProxies: [String] = []

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

    func validate() throws {
        _ = try parsedTrustedProxies()
    }

    func parsedTrustedProxies() throws -> TrustedProxies {
        var blocks: [TrustedProxies.CIDR] = []
        for text in trustedProxies {
            do {
                blocks.append(try TrustedProxies.CIDR(text))
            } catch {
                throw ValidationError("--trusted-proxy: \(error.description)")
            }
        }
        return TrustedProxies(blocks)
    }

    /// Installs the process-wide log handler.
    func bootstrapLogging(level: Logger.Level) {
        let format = logFormat
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

    /// The access log the flags ask for (its metrics are counted even when it is off).
    func makeAccessLog() throws -> AccessLog {
        switch accessLog {
        case "off", "":
            return AccessLog(logger: nil)
        case "-":
            let format = logFormat
            return AccessLog(
                logger: Logger(label: "s3-sidecar.access") { label in
                    LineLogHandler(label: label, format: format, output: .standardError)
                }
            )
        default:
            let output = try LogOutput.appending(to: accessLog)
            let format = logFormat
            return AccessLog(
                logger: Logger(label: "s3-sidecar.access") { label in
                    LineLogHandler(label: label, format: format, output: output)
                }
            )
        }
    }
}

extension LineLogHandler.Format: ExpressibleByArgument {}
