import Synchronization

/// Derived signing keys, cached per (secret, date, region, service): a key changes once a day per
/// credential, so nearly every request finds its key here.
///
/// Bounded: when full, the cache is emptied and refilled by the next requests, which is simpler than LRU
/// and costs one derivation per active credential per flush.
public final class SigningKeyCache: Sendable {
    private struct Key: Hashable {
        var secret: String
        var date: String
        var region: String
        var service: String
    }

    private let entries = Mutex<[Key: SigningKey]>([:])
    private let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
    }

    /// The signing key for this secret and scope, derived on first use.
    public func key(secretAccessKey: String, date: String, region: String, service: String) -> SigningKey {
        let key = Key(secret: secretAccessKey, date: date, region: region, service: service)
        if let hit = entries.withLock({ $0[key] }) {
            return hit
        }
        let derived = SigningKey(secretAccessKey: secretAccessKey, date: date, region: region, service: service)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = derived
        }
        return derived
    }

    /// How many keys are cached (for tests and metrics).
    public var count: Int { entries.withLock { $0.count } }
}

extension SigningKeyCache {
    /// The SigV4 signature (hex) of a canonical request: its string to sign, HMAC'd with the scope's
    /// signing key. What every signer here (resign mode, minted URLs) does last.
    public func signatureHex(
        canonicalRequest: [UInt8],
        timestamp: String,
        scope: CredentialScope,
        secretAccessKey: String
    ) -> String {
        let stringToSign = CanonicalRequest.stringToSign(
            canonicalRequest: canonicalRequest,
            timestamp: timestamp,
            scope: scope
        )
        return key(secretAccessKey: secretAccessKey, date: scope.date, region: scope.region, service: scope.service)
            .signatureHex(stringToSign)
    }
}
