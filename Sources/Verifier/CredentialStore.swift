/// One access key the sidecar accepts.
public struct Credential: Sendable, Hashable {
    public var accessKeyId: String
    public var secretAccessKey: String
    /// For temporary credentials: the session token a request must present
    /// (`X-Amz-Security-Token` / `x-amz-security-token`). `nil` for long-term keys.
    public var sessionToken: String?
    /// During a secret rotation: the secret being retired, still accepted beside `secretAccessKey` so that
    /// clients can move over one by one. `nil` outside a rotation.
    public var previousSecretAccessKey: String?

    public init(
        accessKeyId: String,
        secretAccessKey: String,
        sessionToken: String? = nil,
        previousSecretAccessKey: String? = nil
    ) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.previousSecretAccessKey = previousSecretAccessKey
    }

    /// The secrets a signature may be made with, current first.
    public var acceptedSecrets: [String] {
        if let previousSecretAccessKey { return [secretAccessKey, previousSecretAccessKey] }
        return [secretAccessKey]
    }
}

/// Looks up access keys. Implementations must be cheap and thread-safe: the verifier calls this once per
/// request, from any thread.
public protocol CredentialStore: Sendable {
    /// The credential for this access key id, or `nil` if the key is unknown (or disabled).
    func credential(forAccessKeyId accessKeyId: String) -> Credential?
}

/// A fixed set of credentials held in memory.
public struct InMemoryCredentialStore: CredentialStore {
    private let credentials: [String: Credential]

    /// Later entries with the same access key id replace earlier ones.
    public init(_ credentials: [Credential]) {
        var byId: [String: Credential] = [:]
        for credential in credentials {
            byId[credential.accessKeyId] = credential
        }
        self.credentials = byId
    }

    public func credential(forAccessKeyId accessKeyId: String) -> Credential? {
        credentials[accessKeyId]
    }

    /// The access key ids held, sorted.
    public var accessKeyIds: [String] { credentials.keys.sorted() }
}
