import Foundation

/// Every `serve` option as one layer of settings: from the flags, the environment or the configuration
/// file. `nil` means "this layer does not say". Layers are merged field by field (flags over environment
/// over file over defaults), then `ServeOptions.resolve` checks the result and fills in defaults.
///
/// A key of the configuration file is its flag in camelCase (`--tls-cert` is `"tlsCert"`). Adding an
/// option: a property here, a flag in `ServeCommand` and its line in `ServeCommand.flagSettings`.
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

    /// The keys a configuration file may hold: every property (read off the type, so the list never drifts).
    static let fieldNames: [String] = Mirror(reflecting: ServeSettings()).children.compactMap(\.label)

    /// Environment variables, for secrets above all (a process list shows flags to everyone).
    static let environmentVariables: [(variable: String, field: String)] = [
        ("S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID", "upstreamAccessKeyId"),
        ("S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY", "upstreamSecretAccessKey"),
        ("S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY_FILE", "upstreamSecretAccessKeyFile"),
        ("S3_SIDECAR_CREDENTIALS", "credentials"),
    ]

    /// The configuration file when `--config` is not given (for containers, where flags are awkward).
    static let configFileVariable = "S3_SIDECAR_CONFIG"

    /// The flag of a key: `tlsCert` → `tls-cert`.
    static func flagName(_ field: String) -> String {
        field.map { $0.isUppercase ? "-" + $0.lowercased() : String($0) }.joined()
    }

    /// This layer with `lower` filling the fields it leaves `nil`.
    func overlaid(on lower: ServeSettings) -> ServeSettings {
        // Through JSON objects, so a new property needs no line here.
        let upper = Self.object(self)
        let merged = Self.object(lower).merging(upper) { _, new in new }
        let data = (try? JSONSerialization.data(withJSONObject: merged)) ?? Data("{}".utf8)
        return (try? JSONDecoder().decode(ServeSettings.self, from: data)) ?? self
    }

    /// The keys whose values differ between the two (names only: values may be secrets).
    func changedFields(from other: ServeSettings) -> [String] {
        let a = Self.object(self)
        let b = Self.object(other)
        // Compared as JSON text: lists and Booleans do not bridge to NSObject the same way on every platform.
        func text(_ value: Any) -> Data? { try? JSONSerialization.data(withJSONObject: [value], options: .sortedKeys) }
        return Set(a.keys).union(b.keys).filter { key in
            guard let x = a[key], let y = b[key] else { return true }
            return text(x) != text(y)
        }.sorted()
    }

    private static func object(_ settings: ServeSettings) -> [String: Any] {
        guard let data = try? JSONEncoder().encode(settings),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return object
    }

    /// The layer the environment gives.
    static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ServeSettings {
        var object: [String: Any] = [:]
        for (variable, field) in environmentVariables {
            if let value = environment[variable], !value.isEmpty { object[field] = value }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data("{}".utf8)
        return (try? JSONDecoder().decode(ServeSettings.self, from: data)) ?? ServeSettings()
    }
}

/// A configuration problem, naming the field: `upstream: invalid upstream URL …`.
struct ConfigurationFieldError: Error, CustomStringConvertible {
    var field: String
    var message: String
    /// `field: message`, plus the flag that sets the same option, so both kinds of user know what to fix.
    var description: String {
        // `trustedProxy[2]` is set by --trusted-proxy.
        let key = String(field.prefix { $0 != "[" })
        guard ServeSettings.fieldNames.contains(key) else { return "\(field): \(message)" }
        return "\(field): \(message) (flag --\(ServeSettings.flagName(key)))"
    }
}

// MARK: - Configuration file

extension ServeSettings {
    /// Reads a JSON configuration file. Unknown keys are an error (a misspelt key would otherwise be
    /// silently ignored), and so is a value of the wrong type; both name the key.
    static func load(configFile path: String) throws(ConfigurationFieldError) -> ServeSettings {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationFieldError(field: path, message: "cannot read the file (\(error.localizedDescription))")
        }
        var settings = try parse(data, source: path)
        settings.resolvePaths(relativeTo: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        return settings
    }

    static func parse(_ data: Data, source: String) throws(ConfigurationFieldError) -> ServeSettings {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigurationFieldError(field: source, message: "not valid JSON (\(error.localizedDescription))")
        }
        guard let top = object as? [String: Any] else {
            throw ConfigurationFieldError(field: source, message: "the top level must be a JSON object")
        }
        let known = Set(fieldNames)
        if let unknown = top.keys.filter({ !known.contains($0) }).sorted().first {
            throw ConfigurationFieldError(
                field: unknown,
                message: "unknown field (expected one of \(fieldNames.joined(separator: ", ")))"
            )
        }
        do {
            return try JSONDecoder().decode(ServeSettings.self, from: data)
        } catch let DecodingError.typeMismatch(type, context) {
            let expected =
                switch type {
                case is String.Type: "a string"
                case is Bool.Type: "true or false"
                case is [Any].Type, is [String].Type: "a list of strings"
                default: "a number"
                }
            throw ConfigurationFieldError(
                field: fieldPath(context.codingPath, source: source),
                message: "wrong type (expected \(expected))"
            )
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationFieldError(
                field: fieldPath(context.codingPath, source: source),
                message: "invalid value (\(context.debugDescription))"
            )
        } catch {
            throw ConfigurationFieldError(field: source, message: "\(error)")
        }
    }

    /// `trustedProxy[2]` for the third element of `trustedProxy`.
    private static func fieldPath(_ path: [any CodingKey], source: String) -> String {
        guard let first = path.first else { return source }
        return path.dropFirst().reduce(first.stringValue) { name, key in
            key.intValue.map { "\(name)[\($0)]" } ?? "\(name).\(key.stringValue)"
        }
    }

    /// Makes relative paths relative to `directory` (the configuration file's), so the file means the same
    /// whatever the working directory of the process.
    mutating func resolvePaths(relativeTo directory: String) {
        func resolve(_ path: String?) -> String? {
            guard let path, !path.hasPrefix("/") else { return path }
            return URL(fileURLWithPath: directory).appendingPathComponent(path).standardizedFileURL.path
        }
        upstreamCa = resolve(upstreamCa)
        dataDir = resolve(dataDir)
        credentials = resolve(credentials)
        upstreamSecretAccessKeyFile = resolve(upstreamSecretAccessKeyFile)
        tlsCert = resolve(tlsCert)
        tlsKey = resolve(tlsKey)
        if let log = accessLog, !OperationsOptions.accessLogWords.contains(log) { accessLog = resolve(log) }
    }
}
