import Testing
import Verifier

@testable import Proxy

@Suite("ReloadableKeys")
struct ReloadableKeysTests {
    @Test("a replacement applies to the next lookup and reports added, removed and changed key ids")
    func replace() throws {
        let a = Credential(accessKeyId: "A", secretAccessKey: "a")
        let b = Credential(accessKeyId: "B", secretAccessKey: "b")
        let keys = ReloadableKeys(.init(credentials: [a, b], policies: [:]))
        #expect(keys.credential(forAccessKeyId: "A") == a)
        let limited = AccessPolicy(grants: [.init(bucket: "x", actions: [.read])])
        let change = keys.replace(
            with: .init(
                credentials: [Credential(accessKeyId: "A", secretAccessKey: "rotated"), Credential(accessKeyId: "C", secretAccessKey: "c"), b],
                policies: ["B": limited]
            )
        )
        #expect(change == ReloadableKeys.Change(added: ["C"], removed: [], changed: ["A", "B"]))
        #expect(keys.credential(forAccessKeyId: "A")?.secretAccessKey == "rotated")
        let denied = S3Operation(accessKeyId: "B", head: S3RequestHead(method: "PUT", uri: "/x/k", headers: []))
        #expect(throws: S3Error.self) { try keys.authorize(denied) }
        #expect(keys.replace(with: .init(credentials: [], policies: [:])).removed == ["A", "B", "C"])
        #expect(keys.credential(forAccessKeyId: "A") == nil)
    }
}
