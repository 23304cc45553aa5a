import Foundation
import Verifier

/// Reads the `--credentials` file: `{"keys": [{"accessKeyId": "...", "secretAccessKey": "..."}]}`.
///
/// Strict on purpose: a misspelt field (`secretKey`) would otherwise be silently ignored and the key
/// would fail in confusing ways at request time.
enum CredentialsFile {
    /// What is wrong with the file, naming the field.
    struct Error: Swift.Error, CustomStringConvertible {
        var description: String
    }

    private struct File: Decodable {
        var keys: [Key]
    }

    private struct Key: Decodable {
        var accessKeyId: String
        var secretAccessKey: String
        var sessionToken: String?
    }

    static let topLevelFields: Set<String> = ["keys"]
    static let keyFields: Set<String> = ["accessKeyId", "secretAccessKey", "sessionToken"]

    static func load(path: String) throws(Error) -> [Credential] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw Error(description: "cannot read credentials file \(path): \(error.localizedDescription)")
        }
        return try parse(data, source: path)
    }

    static func parse(_ data: Data, source: String) throws(Error) -> [Credential] {
        func fail(_ why: String) -> Error { Error(description: "credentials file \(source): \(why)") }

        // Unknown fields first: JSONDecoder ignores them.
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw fail("not valid JSON (\(error.localizedDescription))")
        }
        guard let top = object as? [String: Any] else { throw fail("the top level must be an object") }
        if let unknown = top.keys.filter({ !topLevelFields.contains($0) }).sorted().first {
            throw fail("unknown field \"\(unknown)\" at the top level (expected \"keys\")")
        }
        guard let keys = top["keys"] as? [Any] else { throw fail("\"keys\" must be an array") }
        for (i, entry) in keys.enumerated() {
            guard let key = entry as? [String: Any] else { throw fail("keys[\(i)] must be an object") }
            if let unknown = key.keys.filter({ !keyFields.contains($0) }).sorted().first {
                throw fail(
                    "unknown field \"\(unknown)\" in keys[\(i)] (expected accessKeyId, secretAccessKey, sessionToken)"
                )
            }
        }

        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw fail("missing field \"\(key.stringValue)\" in \(path(context.codingPath))")
        } catch let DecodingError.typeMismatch(_, context) {
            throw fail("\(path(context.codingPath)) has the wrong type (\(context.debugDescription))")
        } catch let DecodingError.valueNotFound(_, context) {
            throw fail("\(path(context.codingPath)) must not be null")
        } catch {
            throw fail("\(error)")
        }

        guard !file.keys.isEmpty else { throw fail("\"keys\" is empty: no request could ever be accepted") }
        var seen: Set<String> = []
        var credentials: [Credential] = []
        for (i, key) in file.keys.enumerated() {
            guard !key.accessKeyId.isEmpty else { throw fail("keys[\(i)].accessKeyId is empty") }
            guard !key.secretAccessKey.isEmpty else { throw fail("keys[\(i)].secretAccessKey is empty") }
            guard seen.insert(key.accessKeyId).inserted else {
                throw fail("keys[\(i)].accessKeyId \"\(key.accessKeyId)\" appears more than once")
            }
            credentials.append(
                Credential(
                    accessKeyId: key.accessKeyId,
                    secretAccessKey: key.secretAccessKey,
                    sessionToken: key.sessionToken
                )
            )
        }
        return credentials
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out.isEmpty ? "the top level" : out
    }
}
