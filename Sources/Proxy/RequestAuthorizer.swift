import Verifier

/// What an authenticated request wants to do, as the policy check sees it.
public struct S3Operation: Sendable, Hashable {
    /// The access key that signed the request.
    public var accessKeyId: String
    /// The HTTP method.
    public var method: String
    /// The bucket named by the first path segment (path-style), percent-decoded; `nil` for the service root.
    public var bucket: String?
    /// The rest of the path after the bucket, percent-decoded; `nil` when the request addresses the bucket.
    public var key: String?
    /// The kind of access the request needs.
    public var action: S3Action
    /// A listing's decoded `prefix`: a key limited to a prefix may list only within it.
    public var listPrefix: String?
    /// CopyObject's and UploadPartCopy's source, which needs `read` as well.
    public var copySource: (bucket: String, key: String)?
    /// DeleteObjects: the keys are in the body, out of the policy's sight.
    public var keysInBody = false

    public init(
        accessKeyId: String,
        method: String,
        bucket: String?,
        key: String?,
        action: S3Action = .read,
        listPrefix: String? = nil,
        copySource: (bucket: String, key: String)? = nil
    ) {
        self.accessKeyId = accessKeyId
        self.method = method
        self.bucket = bucket
        self.key = key
        self.action = action
        self.listPrefix = listPrefix
        self.copySource = copySource
    }

    public static func == (a: S3Operation, b: S3Operation) -> Bool {
        a.accessKeyId == b.accessKeyId && a.method == b.method && a.bucket == b.bucket && a.key == b.key
            && a.action == b.action && a.listPrefix == b.listPrefix && a.copySource?.bucket == b.copySource?.bucket
            && a.copySource?.key == b.copySource?.key && a.keysInBody == b.keysInBody
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(accessKeyId)
        hasher.combine(method)
        hasher.combine(bucket)
        hasher.combine(key)
        hasher.combine(action)
    }

    /// Derives the operation from a verified request (path-style addressing).
    init(accessKeyId: String, method: String, rawPath: Substring) {
        var path = rawPath.utf8.dropFirst(rawPath.utf8.first == UInt8(ascii: "/") ? 1 : 0)
        var bucket: String?
        var key: String?
        if let slash = path.firstIndex(of: UInt8(ascii: "/")) {
            bucket = Self.decode(Substring(path[..<slash]))
            path = path[path.index(after: slash)...]
            key = path.isEmpty ? nil : Self.decode(Substring(path))
        } else if !path.isEmpty {
            bucket = Self.decode(Substring(path))
        }
        self.init(accessKeyId: accessKeyId, method: method, bucket: bucket, key: key)
    }

    static func decode(_ s: Substring) -> String {
        var out: [UInt8] = []
        var it = s.utf8[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), let h = it.first, let hv = URIEncoding.hexValue(h),
                let l = it.dropFirst().first, let lv = URIEncoding.hexValue(l)
            {
                out.append(hv << 4 | lv)
                it = it.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The policy hook: runs after authentication and before anything is forwarded.
public protocol RequestAuthorizer: Sendable {
    /// Returns normally to allow; throws the `S3Error` to answer with (usually `AccessDenied`) to refuse.
    func authorize(_ operation: S3Operation) throws(S3Error)
}

/// Allows every authenticated request. Anonymous requests never get this far: the verifier refuses them.
public struct AllowAllAuthorizer: RequestAuthorizer {
    public init() {}

    public func authorize(_ operation: S3Operation) throws(S3Error) {}
}
