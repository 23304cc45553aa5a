import Foundation
import Logging
import Synchronization

/// Where log lines go: standard error or a file opened for appending. Lines from every thread are written
/// whole, one `write` each, under a lock.
final class LogOutput: Sendable {
    private let handle: Mutex<FileHandle>

    private init(_ handle: FileHandle) {
        self.handle = Mutex(handle)
    }

    static let standardError = LogOutput(.standardError)

    /// Opens (creating if needed) `path` for appending. O_APPEND: every write lands at the current end, so
    /// logrotate's `copytruncate` works without a restart.
    static func appending(to path: String) throws -> LogOutput {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw ConfigurationError(
                description: "cannot open the log file \(path) for appending: \(String(cString: strerror(errno)))"
            )
        }
        return LogOutput(FileHandle(fileDescriptor: fd, closeOnDealloc: true))
    }

    func write(_ line: Data) {
        handle.withLock { $0.write(line) }
    }
}

/// A swift-log handler that writes one line per event: a JSON object (`--log-format json`), or
/// `time level label: message key=value…` text.
///
/// JSON lines carry `time` (ISO 8601, UTC, milliseconds), `level`, `logger`, `message` and every metadata
/// field at the top level; integer and floating-point metadata values (`.stringConvertible`) stay numbers.
/// Encoding is Foundation's `JSONSerialization`, so every string is escaped by it.
struct LineLogHandler: LogHandler {
    enum Format: String, CaseIterable {
        case text, json
    }

    let label: String
    let format: Format
    let output: LogOutput
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, format: Format, output: LogOutput, level: Logger.Level = .info) {
        self.label = label
        self.format = format
        self.output = output
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let own = event.metadata { all.merge(own) { $1 } }
        let line = Self.line(
            format: format,
            label: label,
            level: event.level,
            message: event.message.description,
            metadata: all,
            date: Date()
        )
        output.write(line)
    }

    /// One encoded line, newline included.
    static func line(
        format: Format,
        label: String,
        level: Logger.Level,
        message: String,
        metadata: Logger.Metadata,
        date: Date
    ) -> Data {
        let time = date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        switch format {
        case .json:
            var object: [String: Any] = [:]
            for (key, value) in metadata { object[key] = jsonValue(value) }
            object["time"] = time
            object["level"] = level.rawValue
            object["logger"] = label
            object["message"] = message
            var data =
                (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
                ?? Data(#"{"message":"unencodable log event"}"#.utf8)
            data.append(0x0A)
            return data
        case .text:
            var text = "\(time) \(level.rawValue) \(label): \(message)"
            for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { text += " \(key)=\(value)" }
            return Data((text + "\n").utf8)
        }
    }

    /// Metadata as JSON values: numbers as numbers, everything else as text, lists and dictionaries nested.
    static func jsonValue(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let s):
            return s
        case .stringConvertible(let c):
            switch c {
            case let n as Int: return n
            case let n as Int64: return n
            case let n as UInt64: return n
            case let n as Double: return n.isFinite ? n : n.description
            case let b as Bool: return b
            default: return c.description
            }
        case .array(let values):
            return values.map(jsonValue)
        case .dictionary(let dictionary):
            return dictionary.mapValues(jsonValue)
        }
    }
}
