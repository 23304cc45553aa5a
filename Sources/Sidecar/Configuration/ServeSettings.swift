import Configuration
import Foundation

/// Every `serve` option, by its key: the values one layer of configuration gives (the flags, the environment,
/// the configuration file, the defaults), or all layers read together through one `ConfigReader` (see
/// ``ConfigurationLayers``). `nil` means "this layer does not say". `ServeOptions.resolve` checks the result.
///
/// This struct is the schema. A property's name is the key in a configuration file (JSON or YAML) and, in
/// kebab case, the flag (`tlsCert` is `--tls-cert`); its type is the type every layer is read as. Nothing
/// else lists the keys: the layers, the strict file check and the SIGHUP comparison all read them off this
/// type. What some keys have besides (a default, a secret, an environment variable, a path relative to the
/// file) is in the small tables below. How to add an option: README, "Adding an option".
///
/// A repeatable flag is a list here; given on the command line, its values replace the file's list (they
/// are not appended), so one layer always says the whole list. A flag without a value is `true` or `nil`.
struct ServeSettings: Codable, Equatable {
    var listen: String?
    var upstream: String?
    var upstreamCa: String?
    var dataDir: String?
    var mode: String?
    var region: String?
    var credentials: String?
    var upstreamAccessKeyId: String?
    var upstreamSecretAccessKey: String?
    var upstreamSecretAccessKeyFile: String?
    var sigv2: String?
    var adminListen: String?
    var tlsCert: String?
    var tlsKey: String?
    var idleTimeout: Int?
    var headerTimeout: Int?
    var upstreamTimeout: Int?
    var upstreamConnections: Int?
    var drainTimeout: Int?
    var maxConnections: Int?
    var maxObjectSize: Int64?
    var upstreamChecksumTrailer: String?
    var logLevel: String?
    // Operations (OperationsOptions).
    var logFormat: String?
    var accessLog: String?
    var trustedProxy: [String]?
    var authRequireUnsignedPayload: Bool?
    // Browsers (BrowserOptions).
    var publicUrl: String?
    var corsOrigin: [String]?
    var corsMethod: [String]?
    var corsAllowHeader: [String]?
    var corsExposeHeader: [String]?
    var corsMaxAge: Int?
}

// MARK: - The tables

extension ServeSettings {
    /// The defaults: the lowest layer of every reader, what `ServeOptions.resolve` falls back on, and the
    /// `[default: …]` of `--help` (``helpDefault(_:)``). Keys without one here have a default that depends
    /// on other keys (`mode`, `upstreamChecksumTrailer`) or none (`maxConnections`: no limit).
    static let defaults = ServeSettings(
        listen: "127.0.0.1:8080",
        dataDir: "./data",
        region: "us-east-1",
        sigv2: "accept",
        idleTimeout: 60,
        headerTimeout: 30,
        upstreamTimeout: 60,
        upstreamConnections: 128,
        drainTimeout: 30,
        logLevel: "info",
        logFormat: "text",
        accessLog: "off",
        authRequireUnsignedPayload: false,
        corsMaxAge: 600
    )

    /// Keys whose values are secrets: marked secret in every layer (swift-configuration redacts them in its
    /// descriptions and access logs), never quoted in an error, printed as `<REDACTED>` by `description`.
    static let secretFields: Set<String> = ["upstreamSecretAccessKey"]

    /// Keys holding a file or directory: relative paths in a configuration file are relative to its folder.
    static let pathFields: Set<String> = [
        "upstreamCa", "dataDir", "credentials", "upstreamSecretAccessKeyFile", "tlsCert", "tlsKey", "accessLog",
    ]

    /// Environment variables, for secrets above all (a process list shows flags to everyone). Only these are
    /// read: a general mapping of every key would also pick up what an orchestrator injects (Kubernetes
    /// sets `S3_SIDECAR_PORT` and `S3_SIDECAR_SERVICE_HOST` for a Service named s3-sidecar).
    static let environmentVariables: [(variable: String, field: String)] = [
        ("S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID", "upstreamAccessKeyId"),
        ("S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY", "upstreamSecretAccessKey"),
        ("S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY_FILE", "upstreamSecretAccessKeyFile"),
        ("S3_SIDECAR_CREDENTIALS", "credentials"),
    ]

    /// The configuration file when `--config` is not given (for containers, where flags are awkward).
    static let configFileVariable = "S3_SIDECAR_CONFIG"

    /// The keys a configuration file may hold: every property (read off the type, so the list never drifts).
    static let fieldNames: [String] = fields.map(\.name)

    /// Every key with the type its value is read as, in declaration order (read off the type).
    static let fields: [(name: String, type: ConfigType)] = Mirror(reflecting: ServeSettings()).children.map {
        child in
        guard let name = child.label else { preconditionFailure("ServeSettings has an unnamed property") }
        let kind = Swift.type(of: child.value)
        let type: ConfigType
        if kind == String?.self {
            type = .string
        } else if kind == Int?.self || kind == Int64?.self {
            type = .int
        } else if kind == Bool?.self {
            type = .bool
        } else if kind == [String]?.self {
            type = .stringArray
        } else {
            preconditionFailure(
                "ServeSettings.\(name): \(kind) is not a configuration type (teach ServeSettings.fields)"
            )
        }
        return (name, type)
    }

    /// The flag of a key: `tlsCert` → `tls-cert`.
    static func flagName(_ field: String) -> String {
        field.map { $0.isUppercase ? "-" + $0.lowercased() : String($0) }.joined()
    }

    /// A defaulted key's value: this layer's, else the table's.
    func defaulted<Value>(_ key: KeyPath<ServeSettings, Value?>) -> Value {
        guard let value = self[keyPath: key] ?? Self.defaults[keyPath: key] else {
            preconditionFailure("ServeSettings.defaults has no value for \(key)")
        }
        return value
    }

    /// ` [default: 60]` for `--help`, from the table.
    static func helpDefault<Value>(_ key: KeyPath<ServeSettings, Value?>) -> String {
        defaults[keyPath: key].map { "[default: \($0)]" } ?? ""
    }
}

// MARK: - Layers

extension ServeSettings {
    /// This layer with `lower` filling the keys it leaves `nil`: the two as providers of one `ConfigReader`.
    func overlaid(on lower: ServeSettings) -> ServeSettings {
        ServeSettings(reading: ConfigReader(providers: [provider(named: "upper"), lower.provider(named: "lower")]))
    }

    /// The keys whose values differ between the two (names only: values may be secrets).
    func changedFields(from other: ServeSettings) -> [String] {
        let a = configValues
        let b = other.configValues
        return Self.fieldNames.filter { a[$0] != b[$0] }.sorted()
    }

    /// The layer the environment gives (only ``environmentVariables``; an empty value says nothing).
    static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ServeSettings {
        // Every variable is a string key, so this layer cannot fail its check; `ConfigurationLayers` still
        // checks it, for the day a number is read from the environment.
        (try? checkedEnvironment(environment)) ?? ServeSettings()
    }

    /// Reads a configuration file (JSON, or YAML for `.yaml`/`.yml`): unknown keys and values of the wrong
    /// type are errors naming the key; relative paths are made relative to the file's folder.
    static func load(configFile path: String) throws(ConfigurationFieldError) -> ServeSettings {
        try ConfigurationFile.load(path: path)
    }

    /// Parses a configuration file's bytes (`source` names it, and its extension says JSON or YAML).
    static func parse(_ data: Data, source: String) throws(ConfigurationFieldError) -> ServeSettings {
        try ConfigurationFile.parse(data, source: source)
    }

    /// Makes relative paths relative to `directory` (the configuration file's), so the file means the same
    /// whatever the working directory of the process.
    mutating func resolvePaths(relativeTo directory: String) {
        var values = configValues
        for field in Self.pathFields {
            guard case .string(let path) = values[field], !path.hasPrefix("/") else { continue }
            if field == "accessLog" && OperationsOptions.accessLogWords.contains(path) { continue }
            values[field] = .string(
                URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
            )
        }
        self = ServeSettings(values: values)
    }
}

// MARK: - Secrets stay out of text

extension ServeSettings: CustomStringConvertible, CustomDebugStringConvertible {
    /// The keys that are set, secrets as `<REDACTED>`: safe for a log line or a test failure.
    var description: String {
        let values = configValues
        let set = Self.fieldNames.compactMap { name -> String? in
            guard let value = values[name] else { return nil }
            return "\(name): \(Self.secretFields.contains(name) ? "<REDACTED>" : "\(value)")"
        }
        return "ServeSettings(\(set.joined(separator: ", ")))"
    }

    var debugDescription: String { description }
}

/// A configuration problem, naming the field: `upstream: invalid upstream URL …`.
struct ConfigurationFieldError: Error, CustomStringConvertible {
    var field: String
    var message: String
    /// Where the bad value came from when that is not the merged options: `configuration file x.yaml`.
    var source: String?

    /// `field: message`, plus the flag that sets the same option, so both kinds of user know what to fix.
    var description: String {
        // `trustedProxy[2]` is set by --trusted-proxy.
        let key = String(field.prefix { $0 != "[" })
        guard ServeSettings.fieldNames.contains(key) else { return "\(field): \(message)" }
        return "\(field): \(message) (flag --\(ServeSettings.flagName(key)))"
    }
}
