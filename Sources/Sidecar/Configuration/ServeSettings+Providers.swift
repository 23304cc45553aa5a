import ArgumentParser
import Configuration
import Foundation

// MARK: - Settings as configuration values

extension ServeSettings {
    /// The keys this layer sets, with their values.
    var configValues: [String: ConfigContent] {
        var values: [String: ConfigContent] = [:]
        for child in Mirror(reflecting: self).children {
            guard let name = child.label, let value = Self.unwrapped(child.value), let content = Self.content(value)
            else { continue }
            values[name] = content
        }
        return values
    }

    /// The settings holding `values`, each of its key's type (as ``fields`` says).
    init(values: [String: ConfigContent]) {
        var object: [String: Any] = [:]
        for (name, content) in values {
            switch content {
            case .string(let value): object[name] = value
            case .int(let value): object[name] = value
            case .bool(let value): object[name] = value
            case .stringArray(let value): object[name] = value
            default: preconditionFailure("ServeSettings.\(name): no configuration type reads as \(content)")
            }
        }
        // Codable does the per-key work, so a new property needs no line here. The values are of their
        // keys' types (every layer is read by type), so this cannot fail on anything a user wrote.
        do {
            self = try JSONDecoder().decode(ServeSettings.self, from: JSONSerialization.data(withJSONObject: object))
        } catch {
            preconditionFailure("ServeSettings(values:) does not match the properties: \(error)")
        }
    }

    /// This layer as a provider of a `ConfigReader`, its secrets marked secret.
    func provider(named name: String) -> InMemoryProvider {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (field, content) in configValues {
            values[AbsoluteConfigKey([field])] = ConfigValue(content, isSecret: Self.secretFields.contains(field))
        }
        return InMemoryProvider(name: name, values: values)
    }

    /// Every key as `reader` answers it: the first of its providers that has a value wins.
    init(reading reader: ConfigReader) {
        var values: [String: ConfigContent] = [:]
        for (name, type) in Self.fields {
            let key = ConfigKey([name])
            let secret = Self.secretFields.contains(name)
            switch type {
            case .string: values[name] = reader.string(forKey: key, isSecret: secret).map { .string($0) }
            case .int: values[name] = reader.int(forKey: key, isSecret: secret).map { .int($0) }
            case .bool: values[name] = reader.bool(forKey: key, isSecret: secret).map { .bool($0) }
            case .stringArray: values[name] = reader.stringArray(forKey: key, isSecret: secret).map { .stringArray($0) }
            default: preconditionFailure("ServeSettings.fields gave \(type) for \(name)")
            }
        }
        self.init(values: values)
    }

    /// One layer on its own, every key looked up as its type: a value of another type is an error naming the
    /// key (`name(key)`: the environment names its variable). A reader skips such a value quietly, so each
    /// layer passes this check before it joins one.
    init(
        checking lookup: (AbsoluteConfigKey, ConfigType) throws -> LookupResult,
        source: String,
        name: (String) -> String = { $0 }
    ) throws(ConfigurationFieldError) {
        var values: [String: ConfigContent] = [:]
        for (field, type) in Self.fields {
            do {
                values[field] = try lookup(AbsoluteConfigKey([field]), type).value?.content
            } catch {
                throw ConfigurationFieldError(
                    field: name(field),
                    message: "wrong type (expected \(Self.expected(type)))",
                    source: source
                )
            }
        }
        self.init(values: values)
    }

    /// What a value of `type` looks like, for an error.
    static func expected(_ type: ConfigType) -> String {
        switch type {
        case .string: "a string"
        case .bool: "true or false"
        case .stringArray: "a list of strings"
        default: "a number"
        }
    }

    /// The environment layer: swift-configuration's environment provider over ``environmentVariables`` only,
    /// each key mapped to its variable; an empty variable says nothing.
    static func environmentProvider(_ environment: [String: String]) -> KeyMappingProvider<EnvironmentVariablesProvider>
    {
        let variables = Dictionary(uniqueKeysWithValues: environmentVariables.map { ($0.field, $0.variable) })
        let known = Set(variables.values)
        let given = environment.filter { known.contains($0.key) && !$0.value.isEmpty }
        let secrets = Set(environmentVariables.filter { secretFields.contains($0.field) }.map(\.variable))
        return EnvironmentVariablesProvider(environmentVariables: given, secretsSpecifier: .specific(secrets))
            // A key without a variable maps to "_", which the filtered environment never holds.
            .mapKeys { key in AbsoluteConfigKey([variables[key.components.joined(separator: ".")] ?? "_"]) }
    }

    /// The environment layer, checked: a bad value names its variable.
    static func checkedEnvironment(_ environment: [String: String]) throws(ConfigurationFieldError) -> ServeSettings {
        let variables = Dictionary(uniqueKeysWithValues: environmentVariables.map { ($0.field, $0.variable) })
        return try ServeSettings(
            checking: environmentProvider(environment).value(forKey:type:),
            source: "environment",
            name: { variables[$0] ?? $0 }
        )
    }

    /// `value` without its `Optional` wrapping; `nil` for `nil`.
    static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        guard let wrapped = mirror.children.first else { return nil }
        return unwrapped(wrapped.value)
    }

    /// A Swift value of an option as configuration content (an enum by its raw value).
    static func content(_ value: Any) -> ConfigContent? {
        switch value {
        case let value as String: .string(value)
        case let value as Int: .int(value)
        case let value as Int64: .int(Int(value))
        case let value as Bool: .bool(value)
        case let value as [String]: .stringArray(value)
        case let value as any RawRepresentable<String>: .string(value.rawValue)
        default: nil
        }
    }
}

// MARK: - The command line as a layer

/// A parsed `@Option`, `@Flag` or `@OptionGroup` of swift-argument-parser, whatever its value's type.
protocol CommandLineValue {
    var commandLineValue: Any { get }
}

extension Option: CommandLineValue {
    var commandLineValue: Any { wrappedValue }
}

extension Flag: CommandLineValue {
    var commandLineValue: Any { wrappedValue }
}

extension OptionGroup: CommandLineValue {
    var commandLineValue: Any { wrappedValue }
}

extension ServeSettings {
    /// The layer the command line gives: each parsed option of `command` (and of its option groups) whose
    /// property is named after a key. What was not given says nothing: `nil`, an empty list, a flag not set.
    init(commandLine command: some ParsableArguments) {
        self.init(values: Self.commandLineValues(command))
    }

    private static func commandLineValues(_ arguments: Any) -> [String: ConfigContent] {
        var values: [String: ConfigContent] = [:]
        for (name, value) in commandLineOptions(arguments) where fieldNames.contains(name) {
            guard let given = unwrapped(value), let content = content(given) else { continue }
            switch content {
            case .bool(false), .stringArray([]): continue
            default: values[name] = content
            }
        }
        return values
    }

    /// Every option of a parsed command and of its option groups, by property name, with its value.
    static func commandLineOptions(_ arguments: Any) -> [(name: String, value: Any)] {
        Mirror(reflecting: arguments).children.flatMap { child -> [(name: String, value: Any)] in
            // A property wrapper's storage is its property's name behind an underscore.
            guard let label = child.label, label.hasPrefix("_"), let parsed = child.value as? any CommandLineValue
            else { return [] }
            let value = parsed.commandLineValue
            if value is any ParsableArguments { return commandLineOptions(value) }
            return [(String(label.dropFirst()), value)]
        }
    }
}
