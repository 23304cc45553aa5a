import Foundation
import Proxy
import Testing

@testable import Sidecar

/// The configuration file, the environment and the flags: parsing, precedence, and errors that name the
/// field an operator has to fix.
@Suite("Configuration")
struct ConfigurationTests {
    static func parse(_ json: String) throws(ConfigurationFieldError) -> ServeSettings {
        try ServeSettings.parse(Data(json.utf8), source: "test.json")
    }

    static func field(of json: String) -> String? {
        do throws(ConfigurationFieldError) {
            _ = try ServeOptions.resolve(try parse(json))
            return nil
        } catch {
            return error.field
        }
    }

    /// A scratch folder with the given files, removed by the caller.
    static func folder(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sidecar-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir
    }

    @Test("every key of the file is its flag in camelCase, and the file's values come through")
    func parsesEveryKind() throws {
        let s = try Self.parse(
            #"{"listen": "0.0.0.0:9443", "upstream": "https://minio:9000", "upstreamCa": "/ca.pem", "mode": "resign", "#
                + #""upstreamAccessKeyId": "UP", "upstreamSecretAccessKey": "s", "credentials": "/k.json", "#
                + #""maxObjectSize": 5368709120, "drainTimeout": 10, "tlsCert": "/c", "tlsKey": "/k"}"#
        )
        let o = try ServeOptions.resolve(s)
        #expect(o.listenHost == "0.0.0.0" && o.listenPort == 9443)
        #expect(o.upstream?.scheme == .https && o.upstream?.host == "minio" && o.upstreamCa == "/ca.pem")
        #expect(o.mode == .resign && o.upstreamSecretAccessKey == "s")
        #expect(o.maxObjectSize == 5_368_709_120 && o.drainTimeout == 10 && o.tlsCert == "/c")
        // Defaults for what nobody said.
        #expect(o.idleTimeout == 60 && o.headerTimeout == 30 && o.region == "us-east-1" && o.maxConnections == nil)
        #expect(ServeSettings.fieldNames.contains("maxConnections") && ServeSettings.fieldNames.count == 33)
    }

    @Test("flags beat the environment, which beats the file; unset layers fall through")
    func precedence() throws {
        var file = ServeSettings()
        file.listen = "127.0.0.1:1"
        file.region = "eu-west-1"
        file.upstreamAccessKeyId = "FROM-FILE"
        file.upstreamSecretAccessKey = "file-secret"
        let env = ServeSettings.fromEnvironment([
            "S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY": "env-secret",
            "S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID": "FROM-ENV",
            "UNRELATED": "x",
        ])
        var flags = ServeSettings()
        flags.upstreamAccessKeyId = "FROM-FLAG"
        flags.listen = "127.0.0.1:3"
        let merged = flags.overlaid(on: env.overlaid(on: file))
        #expect(merged.upstreamAccessKeyId == "FROM-FLAG")
        #expect(merged.upstreamSecretAccessKey == "env-secret")
        #expect(merged.listen == "127.0.0.1:3")
        #expect(merged.region == "eu-west-1")
        #expect(merged.changedFields(from: file) == ["listen", "upstreamAccessKeyId", "upstreamSecretAccessKey"])
    }

    @Test(
        "a bad value is refused naming its field",
        arguments: [
            (#"{"upstream": "ftp://x", "credentials": "/k"}"#, "upstream"),
            (#"{"upstream": "http://x", "credentials": "/k", "mode": "sideways"}"#, "mode"),
            (#"{"upstream": "http://x"}"#, "credentials"),
            (#"{"upstream": "http://x", "credentials": "/k", "mode": "resign"}"#, "upstreamAccessKeyId"),
            (#"{"upstream": "http://x", "credentials": "/k", "upstreamSecretAccessKey": "s"}"#, "upstreamSecretAccessKey"),
            (#"{"upstream": "http://x", "credentials": "/k", "upstreamCa": "/ca"}"#, "upstreamCa"),
            (#"{"listen": "nowhere"}"#, "listen"),
            (#"{"adminListen": "1.2.3.4"}"#, "adminListen"),
            (#"{"tlsCert": "/c"}"#, "tlsKey"),
            (#"{"idleTimeout": 0}"#, "idleTimeout"),
            (#"{"drainTimeout": -1}"#, "drainTimeout"),
            (#"{"maxConnections": 0}"#, "maxConnections"),
            (#"{"logLevel": "loud"}"#, "logLevel"),
            (#"{"sigv2": "maybe"}"#, "sigv2"),
            (#"{"mode": "passthrough"}"#, "mode"),
        ]
    )
    func namesBadField(json: String, field: String) {
        #expect(Self.field(of: json) == field)
    }

    @Test("every key has its flag, and an error names the flag beside the key")
    func keysAndFlagsAgree() throws {
        let help = ServeCommand.helpMessage(columns: 400)
        for field in ServeSettings.fieldNames {
            // A long flag's help starts on the next line.
            let flag = "--\(ServeSettings.flagName(field))"
            #expect(help.contains(flag + " ") || help.contains(flag + "\n"), "no flag for \(field)")
        }
        // Every flag fills its key: parse them all and compare with the settings they give.
        let command = try ServeCommand.parse([
            "--listen", "1.2.3.4:5", "--upstream", "https://u", "--upstream-ca", "/ca", "--data-dir", "/d",
            "--mode", "resign", "--region", "r", "--credentials", "/c", "--upstream-access-key-id", "A",
            "--upstream-secret-access-key", "s", "--upstream-secret-access-key-file", "/s", "--sigv2", "refuse",
            "--admin-listen", "1.2.3.4:6", "--tls-cert", "/t", "--tls-key", "/k", "--idle-timeout", "1",
            "--header-timeout", "2", "--upstream-timeout", "3", "--upstream-connections", "4", "--drain-timeout", "5",
            "--max-connections", "6", "--max-object-size", "7", "--log-level", "debug",
            "--upstream-checksum-trailer", "drop", "--log-format", "json", "--access-log", "-",
            "--trusted-proxy", "10.0.0.0/8", "--auth-require-unsigned-payload", "--public-url", "https://files.example.com",
            "--cors-origin", "https://app.example.com", "--cors-method", "PUT", "--cors-allow-header", "content-type",
            "--cors-expose-header", "etag", "--cors-max-age", "60",
        ])
        let flags = command.flagSettings
        let unset = ServeSettings.fieldNames.filter { !flags.changedFields(from: ServeSettings()).contains($0) }
        #expect(unset.isEmpty, "flags that do not reach their key: \(unset)")
        do throws(ConfigurationFieldError) {
            _ = try ServeOptions.resolve(try Self.parse(#"{"upstream": "http://x", "credentials": "/k", "mode": "resign"}"#))
            Issue.record("resign mode without the upstream key was accepted")
        } catch {
            #expect(error.description.contains("(flag --upstream-access-key-id)"))
        }
    }

    @Test("operations and browser keys come from the file, checked, with the flags' defaults")
    func operationsAndBrowserKeys() throws {
        let s = try Self.parse(
            #"{"logFormat": "json", "accessLog": "-", "trustedProxy": ["10.0.0.0/8", "::1"], "#
                + #""authRequireUnsignedPayload": true, "publicUrl": "https://Files.Example.com:8443/", "#
                + #""corsOrigin": ["https://app.example.com", "https://*.example.org"], "corsMethod": ["get", "put"], "#
                + #""corsAllowHeader": ["content-type"], "corsExposeHeader": ["etag"], "corsMaxAge": 0}"#
        )
        let o = try ServeOptions.resolve(s)
        #expect(o.logFormat == .json && o.accessLog == "-" && o.authRequireUnsignedPayload)
        let proxies = try TrustedProxies([.init("10.0.0.0/8"), .init("::1")])
        #expect(o.trustedProxies == proxies)
        #expect(o.publicURL?.scheme == "https" && o.publicURL?.host == "files.example.com:8443")
        let cors = try #require(o.cors)
        #expect(cors.allowedOrigins == ["https://app.example.com", "https://*.example.org"])
        #expect(cors.allowedMethods == ["GET", "PUT"] && cors.allowedHeaders == ["content-type"])
        #expect(cors.exposedHeaders == ["etag"] && cors.maxAgeSeconds == 0)

        // Nothing said: the flags' defaults.
        let d = try ServeOptions.resolve(ServeSettings())
        #expect(d.logFormat == .text && d.accessLog == "off" && !d.authRequireUnsignedPayload)
        #expect(d.cors == nil && d.publicURL == nil && d.trustedProxies == TrustedProxies.none)
        let onlyOrigin = try ServeOptions.resolve(try Self.parse(#"{"corsOrigin": ["*"]}"#))
        #expect(onlyOrigin.cors?.maxAgeSeconds == 600 && onlyOrigin.cors?.allowedHeaders == ["*"])
    }

    @Test("a repeatable flag replaces the file's list; flags not given leave the file's values")
    func repeatableFlagsReplaceTheFilesList() throws {
        let file = try Self.parse(
            #"{"trustedProxy": ["10.0.0.0/8", "172.16.0.0/12"], "corsOrigin": ["https://a.example"], "#
                + #""authRequireUnsignedPayload": true, "logFormat": "json", "accessLog": "/var/log/a.log", "corsMaxAge": 5}"#
        )
        let none = try ServeCommand.parse([]).flagSettings
        #expect(none == ServeSettings(), "a flag not given must not say anything: \(none)")
        #expect(none.overlaid(on: file) == file)

        let flags = try ServeCommand.parse(["--trusted-proxy", "127.0.0.1", "--cors-max-age", "7", "--log-format", "text"])
            .flagSettings
        let merged = flags.overlaid(on: ServeSettings.fromEnvironment([:]).overlaid(on: file))
        #expect(merged.trustedProxy == ["127.0.0.1"])
        #expect(merged.corsOrigin == ["https://a.example"] && merged.authRequireUnsignedPayload == true)
        #expect(merged.corsMaxAge == 7 && merged.logFormat == "text" && merged.accessLog == "/var/log/a.log")
        #expect(merged.changedFields(from: file) == ["corsMaxAge", "logFormat", "trustedProxy"])
        // Equal lists and Booleans are not a change (SIGHUP's "needs a restart" list).
        #expect(file.changedFields(from: try Self.parse(String(decoding: try JSONEncoder().encode(file), as: UTF8.self))).isEmpty)
    }

    @Test(
        "a bad operations or browser value is refused naming its field, list elements by index",
        arguments: [
            (#"{"trustedProxy": ["10.0.0.0/8", "::1", "10.0.0.0/33"]}"#, "trustedProxy[2]"),
            (#"{"trustedProxy": ["proxy.internal"]}"#, "trustedProxy[0]"),
            (#"{"corsOrigin": ["https://ok.example", "https://app.example.com/"]}"#, "corsOrigin[1]"),
            (#"{"corsOrigin": [""]}"#, "corsOrigin[0]"),
            (#"{"publicUrl": "https://files.example.com/prefix"}"#, "publicUrl"),
            (#"{"publicUrl": "ftp://files.example.com"}"#, "publicUrl"),
            (#"{"logFormat": "xml"}"#, "logFormat"),
            (#"{"corsMaxAge": -1}"#, "corsMaxAge"),
        ]
    )
    func namesBadOperationsField(json: String, field: String) {
        #expect(Self.field(of: json) == field)
    }

    @Test("a list element's error names the element and the flag")
    func listElementErrorNamesTheFlag() throws {
        do throws(ConfigurationFieldError) {
            _ = try ServeOptions.resolve(try Self.parse(#"{"trustedProxy": ["10.0.0.1", "nonsense"]}"#))
            Issue.record("a bad CIDR was accepted")
        } catch {
            #expect(error.description.hasPrefix("trustedProxy[1]: "))
            #expect(error.description.contains("(flag --trusted-proxy)"), "\(error.description)")
        }
    }

    @Test(
        "lists and Booleans of the wrong type are refused naming the key (or the element)",
        arguments: [
            (#"{"trustedProxy": "10.0.0.0/8"}"#, "trustedProxy"),
            (#"{"corsOrigin": ["https://a.example", 5]}"#, "corsOrigin[1]"),
            (#"{"authRequireUnsignedPayload": "yes"}"#, "authRequireUnsignedPayload"),
            (#"{"corsMaxAge": "600"}"#, "corsMaxAge"),
        ]
    )
    func wrongTypesOfNewKinds(json: String, field: String) {
        do throws(ConfigurationFieldError) {
            let parsed = try Self.parse(json)
            Issue.record("accepted \(json) as \(parsed)")
        } catch {
            #expect(error.field == field, "\(json) → \(error)")
        }
    }

    @Test("check-config names trustedProxy[i] for a bad CIDR, and a relative access log is the file's folder's")
    func checkConfigOperations() throws {
        let dir = try Self.folder([
            "sidecar.json": #"{"accessLog": "logs/access.log", "trustedProxy": ["127.0.0.1", "10.0.0.0/99"]}"#
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("sidecar.json").path
        do throws(ConfigurationFieldError) {
            _ = try CheckConfigCommand.check(file: config, environment: [:])
            Issue.record("a bad CIDR passed check-config")
        } catch {
            #expect(error.field == "trustedProxy[1]")
            #expect(error.message.contains("10.0.0.0/99"))
        }
        let settings = try ServeSettings.load(configFile: config)
        #expect(settings.accessLog == dir.appendingPathComponent("logs/access.log").standardizedFileURL.path)
        try Data(#"{"accessLog": "-", "logFormat": "json"}"#.utf8).write(to: dir.appendingPathComponent("sidecar.json"))
        #expect(try ServeSettings.load(configFile: config).accessLog == "-")
        #expect(try CheckConfigCommand.check(file: config, environment: [:]).contains("embedded store"))
    }

    @Test("unknown keys and wrong types are errors naming the key")
    func strictParsing() {
        for (json, field) in [
            (#"{"listen": "127.0.0.1:1", "listenn": "x"}"#, "listenn"),
            (#"{"maxObjectSize": "5GB"}"#, "maxObjectSize"),
            (#"{"upstream": 9000}"#, "upstream"),
        ] {
            #expect(throws: ConfigurationFieldError.self) { try Self.parse(json) }
            do throws(ConfigurationFieldError) {
                _ = try Self.parse(json)
            } catch {
                #expect(error.field == field, "\(json) → \(error)")
            }
        }
        #expect(throws: ConfigurationFieldError.self) { try Self.parse("[1]") }
        #expect(throws: ConfigurationFieldError.self) { try Self.parse("{not json") }
    }

    @Test("relative paths in a file are relative to the file's folder; the secret file is read and trimmed")
    func relativePathsAndSecretFile() throws {
        let dir = try Self.folder([
            "sidecar.json": #"{"upstream": "http://x", "credentials": "keys/creds.json", "mode": "resign", "#
                + #""upstreamAccessKeyId": "UP", "upstreamSecretAccessKeyFile": "secret.txt"}"#,
            "secret.txt": "s3cr3t/value==\n",
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let settings = try ServeSettings.load(configFile: dir.appendingPathComponent("sidecar.json").path)
        #expect(settings.credentials == dir.appendingPathComponent("keys/creds.json").standardizedFileURL.path)
        let options = try ServeOptions.resolve(settings)
        #expect(options.upstreamSecretAccessKey == "s3cr3t/value==")

        var both = settings
        both.upstreamSecretAccessKey = "also"
        #expect(throws: ConfigurationFieldError.self) { try ServeOptions.resolve(both) }
    }

    @Test("check-config loads the credentials file it names, and its errors name the key and field")
    func checkConfigCredentials() throws {
        let dir = try Self.folder([
            "sidecar.json": #"{"upstream": "http://127.0.0.1:9000", "credentials": "creds.json"}"#,
            "creds.json": #"{"keys": [{"accessKeyId": "A", "secretAccessKey": "a"}, "#
                + #"{"accessKeyId": "B", "secretAccessKey": "b", "expires": "2027-01-01T00:00:00Z"}, "#
                + #"{"accessKeyId": "C", "secretAccessKey": ""}]}"#,
        ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("sidecar.json").path
        do throws(ConfigurationFieldError) {
            _ = try CheckConfigCommand.check(file: config, environment: [:])
            Issue.record("an empty secret passed check-config")
        } catch {
            #expect(error.field == "credentials")
            #expect(error.message.contains("keys[2].secretAccessKey"))
        }
        try Data(#"{"keys": [{"accessKeyId": "A", "secretAccessKey": "a"}]}"#.utf8)
            .write(to: dir.appendingPathComponent("creds.json"))
        let summary = try CheckConfigCommand.check(file: config, environment: [:])
        #expect(summary.contains("1 enabled key(s)") && summary.contains("passthrough"))
    }

    @Test("deploy/config.example.json is a valid configuration (its files aside, which live on the target host)")
    func deployExampleParses() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/config.example.json")
        var settings = try ServeSettings.load(configFile: example.path)
        #expect(settings.upstreamSecretAccessKeyFile != nil)
        settings.upstreamSecretAccessKeyFile = nil  // read at start-up; the e2e check-config test covers it
        settings.upstreamSecretAccessKey = "stand-in"
        let options = try ServeOptions.resolve(settings)
        #expect(options.tlsCert != nil && options.upstream != nil && options.adminListen != nil)
        #expect(options.logFormat == .json && options.accessLog == "-" && options.publicURL != nil)
        #expect(options.cors?.allowedOrigins == ["https://app.example.com"] && options.trustedProxies == TrustedProxies.none)
    }
}

@Suite("Credentials file: expiry and rotation")
struct CredentialsFileRotationTests {
    @Test("expires is parsed as UTC seconds; previousSecretAccessKey rides along with the credential")
    func parses() throws {
        let keys = try CredentialsFile.parse(
            Data(
                (#"{"keys": [{"accessKeyId": "A", "secretAccessKey": "new", "previousSecretAccessKey": "old", "#
                    + #""expires": "2027-01-01T00:00:00Z"}]}"#).utf8
            ),
            source: "t"
        )
        #expect(keys.expires["A"] == 1_798_761_600)
        #expect(keys.credentials.first?.acceptedSecrets == ["new", "old"])
    }

    @Test(
        "a bad expiry or an empty previous secret is refused naming keys[i].field",
        arguments: [
            (#"{"keys": [{"accessKeyId": "A", "secretAccessKey": "a", "expires": "next year"}]}"#, "keys[0].expires"),
            (#"{"keys": [{"accessKeyId": "A", "secretAccessKey": "a", "previousSecretAccessKey": ""}]}"#,
             "keys[0].previousSecretAccessKey"),
            (#"{"keys": [{"accessKeyId": "A", "secretAccessKey": "a", "secrets": ["b"]}]}"#, "secrets"),
        ]
    )
    func refuses(json: String, mention: String) {
        do throws(CredentialsFile.Error) {
            _ = try CredentialsFile.parse(Data(json.utf8), source: "t")
            Issue.record("accepted: \(json)")
        } catch {
            #expect(error.description.contains(mention), "\(error.description)")
        }
    }
}
