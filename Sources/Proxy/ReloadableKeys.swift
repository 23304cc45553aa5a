import Crypto
import Logging
import Synchronization
import Verifier

/// The keys and policies in force, swappable while the proxy runs: a reload replaces them for new
/// requests, and a request that has already looked its key up finishes with what it found.
///
/// Both the verifier (as its `CredentialStore`) and the proxy (as its `RequestAuthorizer`) read it, once
/// per request each, under a lock held only for a dictionary lookup.
public final class ReloadableKeys: CredentialStore, RequestAuthorizer, APIKeyStore {
    /// One consistent set: the credentials and the policies that go with them.
    public struct Snapshot: Sendable {
        public private(set) var credentials: [String: Credential]
        /// The policies by key id (kept to compare snapshots), and the authorizer made of them.
        public private(set) var policies: [String: AccessPolicy]
        public private(set) var authorizer: AccessPolicyAuthorizer
        /// The presign API's keys, by the key itself.
        /// The presign API's keys by the SHA-256 of the key: a lookup then compares digests, so its timing
        /// says nothing about how much of a guessed key was right.
        private(set) var apiKeysByDigest: [[UInt8]: APIKey]
        /// When keys stop working, in seconds since 1970, by key id; keys without an expiry are absent.
        public private(set) var expires: [String: Int64]

        public init(
            credentials: [Credential],
            policies: [String: AccessPolicy],
            apiKeys: [APIKey] = [],
            expires: [String: Int64] = [:]
        ) {
            var byId: [String: Credential] = [:]
            for credential in credentials { byId[credential.accessKeyId] = credential }
            self.credentials = byId
            self.policies = policies
            self.authorizer = AccessPolicyAuthorizer(policies: policies)
            var byKey: [[UInt8]: APIKey] = [:]
            for key in apiKeys { byKey[Array(SHA256.hash(data: Array(key.apiKey.utf8)))] = key }
            self.apiKeysByDigest = byKey
            self.expires = expires
        }
    }

    /// What a reload changed, by key id (never secrets).
    public struct Change: Sendable, Equatable {
        public var added: [String]
        public var removed: [String]
        /// Keys whose secret, session token or policy changed.
        public var changed: [String]

        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }
    }

    private let current: Mutex<Snapshot>
    private let clock: @Sendable () -> Int64
    private let logger: Logger

    /// - Parameters:
    ///   - clock: Seconds since 1970, for key expiry; the wall clock unless a test freezes it.
    ///   - logger: Where a refused expired key is logged (by id).
    public init(
        _ snapshot: Snapshot,
        clock: @escaping @Sendable () -> Int64 = ProxyServer.wallClock,
        logger: Logger? = nil
    ) {
        current = Mutex(snapshot)
        self.clock = clock
        self.logger = logger ?? .disabled
    }

    /// Puts `snapshot` in force and says what changed.
    @discardableResult
    public func replace(with snapshot: Snapshot) -> Change {
        let old = current.withLock { current in
            let old = current
            current = snapshot
            return old
        }
        let oldIds = Set(old.credentials.keys)
        let newIds = Set(snapshot.credentials.keys)
        let kept = oldIds.intersection(newIds).filter {
            old.credentials[$0] != snapshot.credentials[$0] || old.policies[$0] != snapshot.policies[$0]
                || old.expires[$0] != snapshot.expires[$0]
        }
        return Change(
            added: newIds.subtracting(oldIds).sorted(),
            removed: oldIds.subtracting(newIds).sorted(),
            changed: kept.sorted()
        )
    }

    /// The key's credential, or `nil` if it is unknown, disabled or expired (the verifier then answers
    /// `InvalidAccessKeyId`, exactly as for an unknown key).
    public func credential(forAccessKeyId accessKeyId: String) -> Credential? {
        let (credential, expires) = current.withLock { ($0.credentials[accessKeyId], $0.expires[accessKeyId]) }
        if let expires, credential != nil, clock() >= expires {
            logger.notice("access key expired; refused", metadata: ["s3.access_key": "\(accessKeyId)"])
            return nil
        }
        return credential
    }

    public func apiKey(presented: String) -> APIKey? {
        let digest = Array(SHA256.hash(data: Array(presented.utf8)))
        return current.withLock { $0.apiKeysByDigest[digest] }
    }

    public func authorize(_ operation: S3Operation) throws(S3Error) {
        let authorizer = current.withLock { $0.authorizer }
        try authorizer.authorize(operation)
    }
}
