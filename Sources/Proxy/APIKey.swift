import Crypto
import Verifier

/// A key for the JSON presign API (`X-API-Key`): it mints URLs signed with one access key, under that
/// key's policy, at most `presignPerMinute` per minute.
public struct APIKey: Sendable, Hashable {
    /// The secret the application sends in `X-API-Key`. Never logged.
    public var apiKey: String
    /// The access key whose secret signs the minted URLs and whose policy applies.
    public var accessKeyId: String
    /// Presign requests per minute (token bucket capacity, refilled evenly over the minute).
    public var presignPerMinute: Int

    public init(apiKey: String, accessKeyId: String, presignPerMinute: Int = 60) {
        self.apiKey = apiKey
        self.accessKeyId = accessKeyId
        self.presignPerMinute = presignPerMinute
    }

    /// A stable name for the key that is not the key: the first 16 hex digits of its SHA-256. Rate-limit
    /// buckets and log lines use it, so neither holds the secret.
    public var fingerprint: String {
        String(Hex.encode(Array(SHA256.hash(data: Array(apiKey.utf8)))).prefix(16))
    }
}

/// Looks up API keys; implementations must be cheap and thread-safe.
public protocol APIKeyStore: Sendable {
    /// The key presented in `X-API-Key`, or `nil` if unknown.
    func apiKey(presented: String) -> APIKey?
}

/// A fixed set of API keys.
public struct InMemoryAPIKeyStore: APIKeyStore {
    private let keys: [String: APIKey]

    public init(_ keys: [APIKey]) {
        var byKey: [String: APIKey] = [:]
        for key in keys { byKey[key.apiKey] = key }
        self.keys = byKey
    }

    public func apiKey(presented: String) -> APIKey? { keys[presented] }
}
