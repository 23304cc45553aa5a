import Foundation
import Proxy
import Testing

@testable import Sidecar

/// The one reader over flags, environment, file and defaults; YAML files beside JSON; the defaults table;
/// secrets kept out of text.
@Suite("Configuration layers")
struct ConfigurationLayersTests {
    /// A scratch folder with the given files, removed by the caller.
    static func folder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-layers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    /// The configuration error `body` throws, if any.
    static func fieldError(_ body: () throws -> Void) -> ConfigurationFieldError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ConfigurationFieldError
        }
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    // MARK: - Precedence through the reader

    @Test("flags beat the environment, which beats the file, which beats the defaults, key by key")
    func fourLayers() throws {
        let dir = try Self.folder([
            "sidecar.yaml": """
            listen: 127.0.0.1:1
            region: eu-west-1
            upstream: http://127.0.0.1:9000
            credentials: /file/creds.json
            upstreamAccessKeyId: FROM-FILE
            trustedProxy: [10.0.0.0/8, 172.16.0.0/12]
            """
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        var flags = ServeSettings()
        flags.listen = "127.0.0.1:3"
        flags.trustedProxy = ["127.0.0.1"]
        let layers = ConfigurationLayers(
            flags: flags,
            environment: [
                "S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID": "FROM-ENV", "S3_SIDECAR_CREDENTIALS": "/env/creds.json",
            ],
            configFile: dir.appendingPathComponent("sidecar.yaml").path
        )
        let settings = try layers.settings()
        #expect(settings.listen == "127.0.0.1:3")  // flag over file
        #expect(settings.upstreamAccessKeyId == "FROM-ENV" && settings.credentials == "/env/creds.json")  // env over file
        #expect(settings.region == "eu-west-1" && settings.upstream == "http://127.0.0.1:9000")  // file over defaults
        #expect(settings.trustedProxy == ["127.0.0.1"], "a repeated flag replaces the file's list, whole")
        #expect(settings.idleTimeout == 60 && settings.logFormat == "text" && settings.corsMaxAge == 600)  // defaults
        #expect(settings.mode == nil, "mode's default depends on upstream, so the table has none")
    }

    @Test("the command line layer is read off the parsed command: a flag not given says nothing")
    func commandLineLayer() throws {
        let command = try ServeCommand.parse([
            "--config", "/x.yaml", "--max-object-size", "5368709120", "--mode", "trusted", "--cors-origin", "https://a",
            "--cors-origin", "https://b", "--auth-require-unsigned-payload",
        ])
        var expected = ServeSettings()
        expected.maxObjectSize = 5_368_709_120
        expected.mode = "trusted"
        expected.corsOrigin = ["https://a", "https://b"]
        expected.authRequireUnsignedPayload = true
        #expect(command.flagSettings == expected)
        #expect(command.configFile == "/x.yaml")
    }

    @Test("every option of serve but --config is a configuration key (a property named otherwise would be lost)")
    func everyOptionIsAKey() throws {
        let options = ServeSettings.commandLineOptions(try ServeCommand.parse([])).map(\.name).filter { $0 != "config" }
        #expect(
            Set(options) == Set(ServeSettings.fieldNames),
            "\(Set(options).symmetricDifference(ServeSettings.fieldNames))"
        )
    }

    @Test("only the documented environment variables are read, and an empty one says nothing")
    func environmentAllowList() throws {
        let layers = ConfigurationLayers(
            environment: [
                "S3_SIDECAR_LISTEN": "0.0.0.0:1", "S3_SIDECAR_PORT": "tcp://10.0.0.1:8080", "LISTEN": "0.0.0.0:2",
                "S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID": "", "S3_SIDECAR_CREDENTIALS": "/c.json",
            ],
            configFile: nil
        )
        let settings = try layers.settings()
        #expect(settings.listen == "127.0.0.1:8080" && settings.upstreamAccessKeyId == nil)
        #expect(settings.credentials == "/c.json")
        #expect(ServeSettings.environmentVariables.map(\.variable).contains("S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY"))
    }

    @Test("S3_SIDECAR_CONFIG names the file when --config is not given; a bad file's error names the file")
    func configFileErrorsNameTheFile() throws {
        let dir = try Self.folder(["bad.yml": "idleTimeout: soon\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.yml").path
        let error = Self.fieldError { _ = try ConfigurationLayers(environment: [:], configFile: path).settings() }
        #expect(error?.field == "idleTimeout" && error?.source == path)
        #expect(
            ConfigurationError(try #require(error)).description.hasPrefix("configuration file \(path): idleTimeout: ")
        )
    }

    // MARK: - YAML

    @Test("a YAML file gives the same settings as the same JSON file (deploy/config.example.yaml ≡ .json)")
    func yamlExampleMatchesJSON() throws {
        let json = try ServeSettings.load(
            configFile: Self.repository.appendingPathComponent("deploy/config.example.json").path
        )
        let yaml = try ServeSettings.load(
            configFile: Self.repository.appendingPathComponent("deploy/config.example.yaml").path
        )
        #expect(yaml == json)
        #expect(
            yaml.maxObjectSize == 5_368_709_120 && yaml.trustedProxy == [] && yaml.authRequireUnsignedPayload == false
        )
        #expect(yaml.accessLog == "-" && yaml.corsMethod == ["GET", "PUT", "POST", "HEAD", "DELETE"])
    }

    @Test("the format follows the extension: .yaml and .yml are YAML, anything else JSON")
    func formatByExtension() {
        #expect(ConfigurationFile.Format(path: "/etc/s3-sidecar/sidecar.yaml") == .yaml)
        #expect(ConfigurationFile.Format(path: "conf.YML") == .yaml)
        #expect(ConfigurationFile.Format(path: "conf.json") == .json)
        #expect(ConfigurationFile.Format(path: "/etc/s3-sidecar/config") == .json)
        #expect(
            Self.fieldError { _ = try ServeSettings.parse(Data("listen: 127.0.0.1:1\n".utf8), source: "c.json") }?.field
                == "c.json"
        )
    }

    @Test("YAML scalars are read as their key's type: strings stay strings, numbers and Booleans parse")
    func yamlTypes() throws {
        let settings = try ServeSettings.parse(
            Data(
                """
                region: no
                sigv2: refuse
                idleTimeout: 5
                authRequireUnsignedPayload: true
                corsOrigin:
                  - https://a.example
                  - "https://b.example"
                listen:
                upstreamCa: ~
                """.utf8
            ),
            source: "t.yaml"
        )
        #expect(settings.region == "no", "YAML 1.1 would make this false; a string key reads the text")
        #expect(settings.idleTimeout == 5 && settings.authRequireUnsignedPayload == true)
        #expect(settings.corsOrigin == ["https://a.example", "https://b.example"])
        #expect(settings.listen == nil && settings.upstreamCa == nil, "null says nothing, as in JSON")
        #expect(try ServeSettings.parse(Data(), source: "empty.yaml") == ServeSettings())
    }

    @Test(
        "a bad YAML file is refused naming the key (or the element)",
        arguments: [
            ("listenn: x\n", "listenn"),
            ("idleTimeout: soon\n", "idleTimeout"),
            ("authRequireUnsignedPayload: perhaps\n", "authRequireUnsignedPayload"),
            ("trustedProxy: 10.0.0.0/8\n", "trustedProxy"),
            ("corsOrigin: [https://a, {x: 1}]\n", "corsOrigin[1]"),
            ("listen: {host: x}\n", "listen"),
            ("- a\n- b\n", "t.yaml"),
            ("listen: [unclosed\n", "t.yaml"),
        ]
    )
    func yamlErrorsNameTheKey(yaml: String, field: String) {
        #expect(Self.fieldError { _ = try ServeSettings.parse(Data(yaml.utf8), source: "t.yaml") }?.field == field)
    }

    @Test("a JSON object where a value belongs is refused naming the key (a lookup would pass it over)")
    func jsonNestedObject() {
        let error = Self.fieldError {
            _ = try ServeSettings.parse(Data(#"{"listen": {"host": "x"}}"#.utf8), source: "t.json")
        }
        #expect(error?.field == "listen" && error?.message == "wrong type (expected a string)")
    }

    @Test("check-config reads YAML, relative paths from the file's folder")
    func checkConfigYAML() throws {
        let dir = try Self.folder([
            "sidecar.yml": "upstream: http://127.0.0.1:9000\ncredentials: creds.json\n",
            "creds.json": #"{"keys": [{"accessKeyId": "A", "secretAccessKey": "a"}]}"#,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let summary = try CheckConfigCommand.check(
            file: dir.appendingPathComponent("sidecar.yml").path,
            environment: [:]
        )
        #expect(summary.contains("1 enabled key(s)") && summary.contains("passthrough"))
    }

    // MARK: - Defaults and help

    @Test("every default of the table reaches the options and --help")
    func defaultsTable() throws {
        let options = try ServeOptions.resolve(ServeSettings())
        let d = ServeSettings.defaults
        #expect(options.listen == d.listen && options.dataDir == d.dataDir && options.region == d.region)
        #expect(options.sigv2.rawValue == d.sigv2 && options.logLevel.rawValue == d.logLevel)
        #expect(options.idleTimeout == d.idleTimeout && options.headerTimeout == d.headerTimeout)
        #expect(options.upstreamTimeout == d.upstreamTimeout && options.upstreamConnections == d.upstreamConnections)
        #expect(options.drainTimeout == d.drainTimeout && options.logFormat.rawValue == d.logFormat)
        #expect(options.accessLog == d.accessLog && options.authRequireUnsignedPayload == d.authRequireUnsignedPayload)
        #expect(try ServeOptions.resolve(ServeSettings(corsOrigin: ["*"])).cors?.maxAgeSeconds == d.corsMaxAge)

        let help = ServeCommand.helpMessage(columns: 400)
        for (name, value) in d.configValues where name != "authRequireUnsignedPayload" {
            let flag = "--\(ServeSettings.flagName(name))"
            let shown: String
            switch value {
            case .string(let text): shown = text
            case .int(let number): shown = "\(number)"
            default: shown = "\(value)"
            }
            // The option's own entry: its line starts with the flag; its help follows, up to the next entry.
            let entry =
                help.components(separatedBy: "\n  \(flag) ").dropFirst().first?
                .components(separatedBy: "\n  --").first ?? ""
            #expect(entry.contains("[default: \(shown)]"), "\(flag) does not show [default: \(shown)]")
        }
    }

    // MARK: - Secrets

    @Test("a secret never reaches a description or an error: not from a flag, the environment or a file")
    func secretsStayOutOfText() throws {
        let secret = "s3cr3t-VALUE-never-printed"
        var flags = ServeSettings()
        flags.upstreamSecretAccessKey = secret
        #expect(!"\(flags)".contains(secret) && "\(flags)".contains("upstreamSecretAccessKey: <REDACTED>"))
        #expect(!String(reflecting: flags).contains(secret))

        let layers = ConfigurationLayers(
            flags: flags,
            environment: ["S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY": secret + "-env"],
            configFile: nil
        )
        // swift-configuration's own descriptions of the layers redact what is marked secret.
        let flagLayer = String(reflecting: flags.provider(named: "flags"))
        #expect(!flagLayer.contains(secret) && flagLayer.contains("<REDACTED>"))
        let environmentLayer = ServeSettings.environmentProvider(["S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY": secret])
        #expect(!String(reflecting: environmentLayer).contains(secret))
        let merged = try layers.settings()
        #expect(merged.upstreamSecretAccessKey == secret)
        // Given outside resign mode: refused, naming the key, never the value.
        let error = Self.fieldError { _ = try ServeOptions.resolve(merged) }
        #expect(error?.field == "upstreamSecretAccessKey" && !(error?.description.contains(secret) ?? true))

        let typed = Self.fieldError {
            _ = try ServeSettings.parse(Data("upstreamSecretAccessKey: [\(secret)]\n".utf8), source: "t.yaml")
        }
        #expect(typed?.field == "upstreamSecretAccessKey" && !(typed?.description.contains(secret) ?? true))
    }

    @Test("the credentials file's errors name the entry, never a secret or an API key")
    func credentialsErrorsOmitSecrets() {
        let json =
            #"{"keys": [{"accessKeyId": "A", "secretAccessKey": "hidden-secret-1"}], "#
            + #""apiKeys": [{"apiKey": "hidden-api-key-1", "accessKeyId": "A"}, "#
            + #"{"apiKey": "hidden-api-key-1", "accessKeyId": "A"}]}"#
        do throws(CredentialsFile.Error) {
            _ = try CredentialsFile.parse(Data(json.utf8), source: "t")
            Issue.record("a repeated API key was accepted")
        } catch {
            #expect(error.description.contains("apiKeys[1].apiKey"))
            #expect(!error.description.contains("hidden-api-key-1") && !error.description.contains("hidden-secret-1"))
        }
    }
}
