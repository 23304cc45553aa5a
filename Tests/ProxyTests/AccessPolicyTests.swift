import Testing
import Verifier

@testable import Proxy

/// Which action each S3 operation needs, and what a key's grants allow.
@Suite("Access policies")
struct AccessPolicyTests {
    static func operation(_ method: String, _ uri: String, headers: [(String, String)] = []) -> S3Operation {
        S3Operation(
            accessKeyId: "AK",
            head: S3RequestHead(method: method, uri: uri, headers: headers.map { (name: $0.0, value: $0.1) })
        )
    }

    @Test(
        "every forwarded S3 operation maps to one action",
        arguments: [
            ("GET", "/", S3Action.list),  // ListBuckets
            ("GET", "/b?list-type=2&prefix=a", .list), ("HEAD", "/b", .list), ("GET", "/b?uploads", .list),
            ("GET", "/b?versions", .list), ("GET", "/b?location", .list),
            ("PUT", "/b", .write), ("PUT", "/b?policy", .write), ("DELETE", "/b", .delete), ("DELETE", "/b?cors", .delete),
            ("POST", "/b?delete", .delete), ("POST", "/b", .write),
            ("GET", "/b/k", .read), ("HEAD", "/b/k", .read), ("GET", "/b/k?acl", .read), ("POST", "/b/k?restore", .read),
            ("PUT", "/b/k", .write), ("PUT", "/b/k?tagging", .write), ("DELETE", "/b/k", .delete),
            ("POST", "/b/k?uploads", .multipart), ("PUT", "/b/k?partNumber=1&uploadId=u", .multipart),
            ("GET", "/b/k?uploadId=u", .multipart), ("POST", "/b/k?uploadId=u", .multipart),
            ("DELETE", "/b/k?uploadId=u", .multipart),
        ]
    )
    func actions(method: String, uri: String, action: S3Action) {
        #expect(Self.operation(method, uri).action == action, "\(method) \(uri)")
    }

    @Test("the bucket and key are decoded; a copy names its source")
    func copySource() {
        let copy = Self.operation("PUT", "/dst/new%20key", headers: [("x-amz-copy-source", "/src/old%20key?versionId=3")])
        #expect(copy.bucket == "dst")
        #expect(copy.key == "new key")
        #expect(copy.action == .write)
        #expect(copy.copySource?.bucket == "src")
        #expect(copy.copySource?.key == "old key")
        let partCopy = Self.operation("PUT", "/dst/k?partNumber=2&uploadId=u", headers: [("x-amz-copy-source", "src/k")])
        #expect(partCopy.action == .multipart)
        #expect(partCopy.copySource?.bucket == "src")
    }

    static let limited = AccessPolicy(grants: [
        .init(bucket: "photos", prefix: "uploads/", actions: [.read, .write, .list, .multipart]),
        .init(bucket: "public", actions: [.read, .list]),
    ])

    @Test("a prefix grant allows objects and listings under the prefix only")
    func prefixGrant() {
        let allows = { (method: String, uri: String) in Self.limited.allows(Self.operation(method, uri)) }
        #expect(allows("PUT", "/photos/uploads/a.jpg"))
        #expect(allows("GET", "/photos/uploads/deep/b.jpg"))
        #expect(allows("POST", "/photos/uploads/big.bin?uploads"))
        #expect(allows("GET", "/photos?list-type=2&prefix=uploads/2026/"))
        #expect(!allows("GET", "/photos?list-type=2"), "a listing without the prefix would show other keys")
        #expect(!allows("GET", "/photos?list-type=2&prefix=up"))
        #expect(!allows("PUT", "/photos/other/a.jpg"))
        #expect(!allows("GET", "/photos/uploadsX"))
        #expect(!allows("DELETE", "/photos/uploads/a.jpg"), "delete was not granted")
        #expect(!allows("DELETE", "/photos"))
        #expect(!allows("GET", "/"), "ListBuckets needs a grant over every bucket")
    }

    @Test("a bucket grant without prefix covers the bucket; other buckets stay closed")
    func bucketGrant() {
        let allows = { (method: String, uri: String) in Self.limited.allows(Self.operation(method, uri)) }
        #expect(allows("GET", "/public/anything"))
        #expect(allows("GET", "/public?list-type=2"))
        #expect(!allows("PUT", "/public/anything"))
        #expect(!allows("GET", "/private/anything"))
    }

    @Test("a limited grant never covers a key with dot segments, escaped or not; a grant over everything does")
    func dotSegments() {
        let allows = { (method: String, uri: String) in Self.limited.allows(Self.operation(method, uri)) }
        #expect(!allows("PUT", "/photos/uploads/../../public/x"), "a normalizing backend would write outside the prefix")
        #expect(!allows("PUT", "/photos/uploads/%2E%2E/%2e%2e/public/x"))
        #expect(!allows("GET", "/public/../photos/secret"))
        #expect(!allows("GET", "/public/./a"))
        #expect(!allows("GET", "/public/.."))
        #expect(allows("GET", "/public/a..b/.c/..d"), "dots inside a segment are ordinary key bytes")
        let copy = Self.operation("PUT", "/photos/uploads/c.jpg", headers: [("x-amz-copy-source", "/public/../photos/x")])
        #expect(!Self.limited.allows(copy))
        let everything = AccessPolicy(grants: [.init(bucket: "*", actions: [.read, .write])])
        #expect(everything.allows(Self.operation("PUT", "/photos/uploads/../x")), "nothing to escape from")
    }

    @Test("a copy needs read on its source too, and DeleteObjects a grant without prefix")
    func copyAndBulkDelete() {
        let intoUploads = Self.operation("PUT", "/photos/uploads/copy.jpg", headers: [("x-amz-copy-source", "/public/a.jpg")])
        #expect(Self.limited.allows(intoUploads))
        let fromPrivate = Self.operation("PUT", "/photos/uploads/copy.jpg", headers: [("x-amz-copy-source", "/private/a.jpg")])
        #expect(!Self.limited.allows(fromPrivate))
        let prefixedDelete = AccessPolicy(grants: [.init(bucket: "photos", prefix: "uploads/", actions: [.delete])])
        #expect(!prefixedDelete.allows(Self.operation("POST", "/photos?delete")))
        let wholeBucket = AccessPolicy(grants: [.init(bucket: "photos", actions: [.delete])])
        #expect(wholeBucket.allows(Self.operation("POST", "/photos?delete")))
        let everything = AccessPolicy(grants: [.init(bucket: "*", actions: Set(S3Action.allCases))])
        #expect(everything.allows(Self.operation("GET", "/")))
    }

    @Test("the authorizer: a key with a policy is held to it; a key without one has full access unless the default denies")
    func authorizer() {
        let authorizer = AccessPolicyAuthorizer(policies: ["AK": Self.limited])
        #expect(throws: S3Error.self) { try authorizer.authorize(Self.operation("GET", "/private/k")) }
        let denied = #expect(throws: S3Error.self) { try authorizer.authorize(Self.operation("GET", "/private/k")) }
        #expect(denied?.code == .accessDenied)
        let other = S3Operation(accessKeyId: "OTHER", head: S3RequestHead(method: "DELETE", uri: "/any/k", headers: []))
        #expect(throws: Never.self) { try authorizer.authorize(other) }
        let strict = AccessPolicyAuthorizer(policies: [:], defaultAllowsAll: false)
        #expect(throws: S3Error.self) { try strict.authorize(other) }
    }
}
