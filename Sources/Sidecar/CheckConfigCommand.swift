import ArgumentParser
import Foundation
import Proxy

/// `s3-sidecar check-config FILE`: loads a configuration file (JSON, or YAML for `.yaml`/`.yml`) the way
/// `serve --config` would (through the same `ConfigurationLayers`, with the environment's secrets), checks every option and the files it names (credentials, TLS pair, upstream CA),
/// and names the first bad field. Exit status 0 when all is well.
struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file (and the credentials and TLS files it names) without serving."
    )

    @Argument(help: ArgumentHelp("The JSON or YAML (.yaml, .yml) configuration file.", valueName: "path"))
    var file: String

    func run() throws {
        do throws(ConfigurationFieldError) {
            let summary = try Self.check(file: file)
            print("\(file): OK (\(summary))")
        } catch {
            FileHandle.standardError.write(Data("\(file): \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Checks the file; returns a one-line summary, or the first problem naming its field.
    static func check(
        file: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationFieldError) -> String {
        let settings = try ConfigurationLayers(environment: environment, configFile: file).settings()
        let options = try ServeOptions.resolve(settings)
        var keyCount = 0
        if let credentials = options.credentials {
            do throws(CredentialsFile.Error) {
                keyCount = try CredentialsFile.load(path: credentials).credentials.count
            } catch {
                throw ConfigurationFieldError(field: "credentials", message: error.description)
            }
        }
        if let cert = options.tlsCert, let key = options.tlsKey {
            do {
                _ = try ListenerTLS.makeContext(certificatePath: cert, keyPath: key)
            } catch {
                throw ConfigurationFieldError(field: "tlsCert", message: "cannot load \(cert) with \(key): \(error)")
            }
        }
        if let ca = options.upstreamCa {
            do {
                _ = try UpstreamTLS.makeContext(caFile: ca)
            } catch {
                throw ConfigurationFieldError(field: "upstreamCa", message: "cannot load \(ca): \(error)")
            }
        }
        let upstream = options.upstream.map { "\($0)" } ?? "embedded store"
        return "listen \(options.listen), upstream \(upstream), mode \(options.mode.rawValue), "
            + "\(keyCount) enabled key(s)\(options.tlsCert == nil ? "" : ", TLS")"
    }
}
