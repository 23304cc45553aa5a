import Verifier

/// What one access key may do: a list of grants, any of which may allow a request.
///
/// A grant names a bucket (`"*"` for every bucket), an optional key prefix and the actions it allows.
/// With a prefix, object requests must name a key under it, listings must ask for a `prefix` under it,
/// and bucket-wide operations (creating or deleting the bucket, DeleteObjects, whose keys are in the body)
/// are not allowed at all. Only a grant over every bucket without a prefix covers keys with `.` or `..`
/// segments, since a backend that normalizes paths would resolve them outside a narrower grant.
public struct AccessPolicy: Sendable, Hashable {
    public struct Grant: Sendable, Hashable {
        /// A bucket name, or `"*"`.
        public var bucket: String
        /// A key prefix; empty means the whole bucket.
        public var prefix: String
        public var actions: Set<S3Action>

        public init(bucket: String, prefix: String = "", actions: Set<S3Action>) {
            self.bucket = bucket
            self.prefix = prefix
            self.actions = actions
        }

        func matches(bucket name: String?) -> Bool {
            bucket == "*" || bucket == name
        }

        /// Whether this grant allows `action` on `bucket`/`key` (with `listPrefix` for listings).
        func allows(
            _ action: S3Action,
            bucket: String?,
            key: String?,
            listPrefix: String?,
            keysInBody: Bool
        ) -> Bool {
            guard actions.contains(action) else { return false }
            guard let bucket else {
                // The service itself (ListBuckets): only a grant over every bucket.
                return self.bucket == "*" && prefix.isEmpty
            }
            guard matches(bucket: bucket) else { return false }
            // A limited grant never covers a key with `.` or `..` segments: S3 stores such keys literally,
            // but a backend that normalizes paths would write `uploads/../../other/x` outside the grant.
            if let key, !(self.bucket == "*" && prefix.isEmpty), Self.hasDotSegment(key) { return false }
            if prefix.isEmpty { return true }
            if keysInBody { return false }
            if let key { return key.hasPrefix(prefix) }
            if action == .list { return (listPrefix ?? "").hasPrefix(prefix) }
            return false
        }

        /// Whether a decoded key has a `.` or `..` path segment (`a/../b`, `./a`, `..`).
        static func hasDotSegment(_ key: String) -> Bool {
            key.split(separator: "/", omittingEmptySubsequences: false).contains { $0 == "." || $0 == ".." }
        }
    }

    public var grants: [Grant]

    public init(grants: [Grant]) {
        self.grants = grants
    }

    /// Whether the operation, and for a copy its source, is allowed.
    public func allows(_ operation: S3Operation) -> Bool {
        let allowed = grants.contains {
            $0.allows(
                operation.action,
                bucket: operation.bucket,
                key: operation.key,
                listPrefix: operation.listPrefix,
                keysInBody: operation.keysInBody
            )
        }
        guard allowed else { return false }
        if let source = operation.copySource {
            return grants.contains {
                $0.allows(.read, bucket: source.bucket, key: source.key, listPrefix: nil, keysInBody: false)
            }
        }
        return true
    }
}

/// Authorizes each request against its access key's policy.
///
/// A key with no policy has full access: that keeps the original credentials format (keys without
/// `allow`) working as it always did. Give every key an `allow` list to limit it; set
/// `defaultAllowsAll: false` to make a key without one unable to do anything.
public struct AccessPolicyAuthorizer: RequestAuthorizer {
    private let policies: [String: AccessPolicy]
    private let defaultAllowsAll: Bool

    public init(policies: [String: AccessPolicy], defaultAllowsAll: Bool = true) {
        self.policies = policies
        self.defaultAllowsAll = defaultAllowsAll
    }

    public func authorize(_ operation: S3Operation) throws(S3Error) {
        if let policy = policies[operation.accessKeyId] {
            if policy.allows(operation) { return }
        } else if defaultAllowsAll {
            return
        }
        throw S3Error(.accessDenied, "Access Denied")
    }
}
