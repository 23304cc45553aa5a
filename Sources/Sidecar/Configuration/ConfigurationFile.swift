import Configuration
import Foundation
import Yams

/// The configuration file layer: JSON, or YAML when the name ends in `.yaml` or `.yml` (operators on
/// Kubernetes write YAML, and a ConfigMap usually holds it). Both hold the same keys with the same meaning.
///
/// swift-configuration's own snapshots (`JSONSnapshot`, `YAMLSnapshot`, what its `FileProvider` reads files
/// with) parse the file and read every key as its type. What this file adds is the sidecar's strictness,
/// which a key-value lookup cannot give: an unknown (misspelt) key, a nested object where a value belongs and
/// a list element of the wrong type are errors naming the key, where a lookup would pass over them quietly.
/// The file is read once; relative paths in it are made relative to its folder before it joins the layers.
enum ConfigurationFile {
    enum Format {
        case json, yaml

        /// By the file's extension; anything but `.yaml`/`.yml` is JSON, as every file was before YAML.
        init(path: String) {
            let name = path.lowercased()
            self = name.hasSuffix(".yaml") || name.hasSuffix(".yml") ? .yaml : .json
        }
    }

    /// Reads, checks and resolves the file at `path`.
    static func load(path: String) throws(ConfigurationFieldError) -> ServeSettings {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationFieldError(
                field: path,
                message: "cannot read the file (\(error.localizedDescription))",
                source: path
            )
        }
        var settings = try parse(data, source: path)
        settings.resolvePaths(relativeTo: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        return settings
    }

    /// Parses and checks a file's bytes; `source` names the file (and its extension the format).
    static func parse(_ data: Data, source: String) throws(ConfigurationFieldError) -> ServeSettings {
        func fail(_ field: String, _ message: String) -> ConfigurationFieldError {
            ConfigurationFieldError(field: field, message: message, source: source)
        }
        let format = Format(path: source)
        let snapshot: any ConfigSnapshot
        var nullKeys: Set<String> = []
        do {
            switch format {
            case .json:
                let top: Any
                do {
                    top = try JSONSerialization.jsonObject(with: data)
                } catch {
                    throw fail(source, "not valid JSON (\(error.localizedDescription))")
                }
                guard let object = top as? [String: Any] else {
                    throw fail(source, "the top level must be a JSON object")
                }
                try checkShape(object.mapValues(Shape.init(json:)), fail: fail)
                snapshot = try JSONSnapshot(
                    data: data.bytes,
                    providerName: source,
                    parsingOptions: .init(secretsSpecifier: .specific(ServeSettings.secretFields))
                )
            case .yaml:
                let root: Node?
                do {
                    root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
                } catch {
                    throw fail(source, "not valid YAML (\(error))")
                }
                // An empty document (a ConfigMap key with nothing in it yet) says nothing.
                guard let root else { return ServeSettings() }
                guard let mapping = root.mapping else { throw fail(source, "the top level must be a YAML mapping") }
                var shapes: [String: Shape] = [:]
                for (key, value) in mapping {
                    guard let name = key.string else { throw fail(source, "a key that is not a string") }
                    shapes[name] = Shape(yaml: value)
                    if shapes[name] == .null { nullKeys.insert(name) }
                }
                try checkShape(shapes, fail: fail)
                snapshot = try YAMLSnapshot(
                    data: data.bytes,
                    providerName: source,
                    parsingOptions: .init(secretsSpecifier: .specific(ServeSettings.secretFields))
                )
            }
        } catch let error as ConfigurationFieldError {
            throw error
        } catch {
            // The shape check above leaves the snapshots nothing of their own to refuse; should they, say so.
            throw fail(source, "\(error)")
        }
        return try ServeSettings(
            checking: { key, type in
                // YAML's null (`key:` or `key: ~`) says nothing, as JSON's null does.
                nullKeys.contains(key.components.joined())
                    ? LookupResult(encodedKey: "", value: nil)
                    : try snapshot.value(forKey: key, type: type)
            },
            source: source
        )
    }

    /// What a value of the file is, before its type is asked for.
    enum Shape: Equatable {
        case null, scalar, mapping
        /// A list; `badElement` is the index of the first element that is not a string (or scalar).
        case list(badElement: Int?)

        init(json value: Any) {
            switch value {
            case is NSNull: self = .null
            case is [String: Any]: self = .mapping
            case let list as [Any]: self = .list(badElement: list.firstIndex { !($0 is String) })
            default: self = .scalar
            }
        }

        init(yaml node: Node) {
            switch node {
            case .mapping: self = .mapping
            case .sequence(let list): self = .list(badElement: list.firstIndex { $0.scalar == nil })
            case .scalar: self = node.null != nil ? .null : .scalar
            case .alias: self = .scalar
            }
        }
    }

    /// Unknown keys, objects where values belong, and list elements of another type, named by key.
    private static func checkShape(
        _ shapes: [String: Shape],
        fail: (String, String) -> ConfigurationFieldError
    ) throws(ConfigurationFieldError) {
        let known = Set(ServeSettings.fieldNames)
        if let unknown = shapes.keys.filter({ !known.contains($0) }).sorted().first {
            throw fail(unknown, "unknown field (expected one of \(ServeSettings.fieldNames.joined(separator: ", ")))")
        }
        for (name, type) in ServeSettings.fields {
            switch (shapes[name], type) {
            case (.mapping, _):
                throw fail(name, "wrong type (expected \(ServeSettings.expected(type)))")
            case (.list(let bad?), .stringArray):
                throw fail("\(name)[\(bad)]", "wrong type (expected a string)")
            default:
                continue  // The snapshot reads the rest as its type.
            }
        }
    }
}
