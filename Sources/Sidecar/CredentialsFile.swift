import Foundation
import Proxy
import Verifier

/// Reads the `--credentials` file: `{"keys": [{"accessKeyId": "...", "secretAccessKey": "..."}]}`, where a
/// key may also carry `"sessionToken"`, `"disabled": true` (the key is refused as unknown) and a policy,
/// `"allow": [{"bucket": "photos", "prefix": "uploads/", "actions": ["read", "write", "delete", "list",
/// "multipart"]}]` (`"*"` for every bucket; no `allow` means full access), `"expires":
/// "2027-01-01T00:00:00Z"` (from then on the key is refused as unknown) and, during a secret rotation,
/// `"previousSecretAccessKey"` (signatures made with either secret are accepted).
///
/// Keys of the presign API sit beside them: `"apiKeys": [{"apiKey": "...", "accessKeyId": "...",
/// "presignPerMinute": 60}]`, where `accessKeyId` names one of `keys` (its secret signs the URLs, its policy
/// applies) and `presignPerMinute` is optional (default 60).
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
        var apiKeys: [APIKeyEntry]?
    }

    private struct APIKeyEntry: Decodable {
        var apiKey: String
        var accessKeyId: String
        var presignPerMinute: Int?
    }

    private struct Key: Decodable {
        var accessKeyId: String
        var secretAccessKey: String
        var sessionToken: String?
        var disabled: Bool?
        var allow: [Grant]?
        var expires: String?
        var previousSecretAccessKey: String?
    }

    private struct Grant: Decodable {
        var bucket: String
        var prefix: String?
        var actions: [String]
    }

    /// The keys of a file: the enabled credentials, and the policy of each key that has one.
    struct Keys {
        var credentials: [Credential]
        var policies: [String: AccessPolicy]
        /// The presign API's keys.
        var apiKeys: [APIKey] = []
        /// Expiry times (seconds since 1970) of the keys that have one.
        var expires: [String: Int64] = [:]

        /// The set to put in force.
        var snapshot: ReloadableKeys.Snapshot {
            .init(credentials: credentials, policies: policies, apiKeys: apiKeys, expires: expires)
        }
    }

    static let topLevelFields: Set<String> = ["keys", "apiKeys"]
    static let apiKeyFields: Set<String> = ["apiKey", "accessKeyId", "presignPerMinute"]
    static let keyFields: Set<String> = [
        "accessKeyId", "secretAccessKey", "sessionToken", "disabled", "allow", "expires", "previousSecretAccessKey",
    ]
    static let grantFields: Set<String> = ["bucket", "prefix", "actions"]

    static func load(path: String) throws(Error) -> Keys {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw Error(description: "cannot read credentials file \(path): \(error.localizedDescription)")
        }
        return try parse(data, source: path)
    }

    static func parse(_ data: Data, source: String) throws(Error) -> Keys {
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
            throw fail("unknown field \"\(unknown)\" at the top level (expected \"keys\", \"apiKeys\")")
        }
        guard let keys = top["keys"] as? [Any] else { throw fail("\"keys\" must be an array") }
        for (i, entry) in keys.enumerated() {
            guard let key = entry as? [String: Any] else { throw fail("keys[\(i)] must be an object") }
            if let unknown = key.keys.filter({ !keyFields.contains($0) }).sorted().first {
                throw fail(
                    "unknown field \"\(unknown)\" in keys[\(i)] (expected accessKeyId, secretAccessKey, "
                        + "previousSecretAccessKey, sessionToken, disabled, expires, allow)"
                )
            }
            for (j, grant) in (key["allow"] as? [Any] ?? []).enumerated() {
                guard let grant = grant as? [String: Any] else { throw fail("keys[\(i)].allow[\(j)] must be an object") }
                if let unknown = grant.keys.filter({ !grantFields.contains($0) }).sorted().first {
                    throw fail("unknown field \"\(unknown)\" in keys[\(i)].allow[\(j)] (expected bucket, prefix, actions)")
                }
            }
        }

        for (i, entry) in (top["apiKeys"] as? [Any] ?? []).enumerated() {
            guard let entry = entry as? [String: Any] else { throw fail("apiKeys[\(i)] must be an object") }
            if let unknown = entry.keys.filter({ !apiKeyFields.contains($0) }).sorted().first {
                throw fail(
                    "unknown field \"\(unknown)\" in apiKeys[\(i)] (expected apiKey, accessKeyId, presignPerMinute)"
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
        var loaded = Keys(credentials: [], policies: [:])
        for (i, key) in file.keys.enumerated() {
            guard !key.accessKeyId.isEmpty else { throw fail("keys[\(i)].accessKeyId is empty") }
            guard !key.secretAccessKey.isEmpty else { throw fail("keys[\(i)].secretAccessKey is empty") }
            guard seen.insert(key.accessKeyId).inserted else {
                throw fail("keys[\(i)].accessKeyId \"\(key.accessKeyId)\" appears more than once")
            }
            if let allow = key.allow {
                var grants: [AccessPolicy.Grant] = []
                for (j, grant) in allow.enumerated() {
                    guard !grant.bucket.isEmpty else { throw fail("keys[\(i)].allow[\(j)].bucket is empty") }
                    var actions: Set<S3Action> = []
                    for name in grant.actions {
                        guard let action = S3Action(rawValue: name) else {
                            throw fail(
                                "keys[\(i)].allow[\(j)].actions: unknown action \"\(name)\" (expected "
                                    + S3Action.allCases.map(\.rawValue).joined(separator: ", ") + ")"
                            )
                        }
                        actions.insert(action)
                    }
                    guard !actions.isEmpty else { throw fail("keys[\(i)].allow[\(j)].actions is empty") }
                    grants.append(AccessPolicy.Grant(bucket: grant.bucket, prefix: grant.prefix ?? "", actions: actions))
                }
                loaded.policies[key.accessKeyId] = AccessPolicy(grants: grants)
            }
            if let previous = key.previousSecretAccessKey, previous.isEmpty {
                throw fail("keys[\(i)].previousSecretAccessKey is empty")
            }
            if let text = key.expires {
                guard let date = ISO8601DateFormatter().date(from: text) else {
                    throw fail(
                        "keys[\(i)].expires: \"\(text)\" is not an RFC 3339 UTC time such as 2027-01-01T00:00:00Z"
                    )
                }
                loaded.expires[key.accessKeyId] = Int64(date.timeIntervalSince1970.rounded(.down))
            }
            if key.disabled == true { continue }
            loaded.credentials.append(
                Credential(
                    accessKeyId: key.accessKeyId,
                    secretAccessKey: key.secretAccessKey,
                    sessionToken: key.sessionToken,
                    previousSecretAccessKey: key.previousSecretAccessKey
                )
            )
        }
        var seenAPIKeys: Set<String> = []
        for (i, entry) in (file.apiKeys ?? []).enumerated() {
            guard !entry.apiKey.isEmpty else { throw fail("apiKeys[\(i)].apiKey is empty") }
            guard seenAPIKeys.insert(entry.apiKey).inserted else {
                throw fail("apiKeys[\(i)].apiKey appears more than once")
            }
            guard seen.contains(entry.accessKeyId) else {
                throw fail(
                    "apiKeys[\(i)].accessKeyId \"\(entry.accessKeyId)\" names no key in \"keys\""
                )
            }
            let perMinute = entry.presignPerMinute ?? 60
            guard (1...1_000_000).contains(perMinute) else {
                throw fail("apiKeys[\(i)].presignPerMinute must be from 1 to 1000000")
            }
            loaded.apiKeys.append(APIKey(apiKey: entry.apiKey, accessKeyId: entry.accessKeyId, presignPerMinute: perMinute))
        }
        return loaded
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
