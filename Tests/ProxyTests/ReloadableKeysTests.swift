import Synchronization
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

    @Test("an expired key is refused like an unknown one from its expiry second on; others are unaffected")
    func expiry() {
        let clock = Clock()
        let a = Credential(accessKeyId: "A", secretAccessKey: "a")
        let b = Credential(accessKeyId: "B", secretAccessKey: "b")
        let keys = ReloadableKeys(
            .init(credentials: [a, b], policies: [:], expires: ["A": 1_800_000_000]),
            clock: { clock.now }
        )
        clock.now = 1_799_999_999
        #expect(keys.credential(forAccessKeyId: "A") == a)
        clock.now = 1_800_000_000
        #expect(keys.credential(forAccessKeyId: "A") == nil)
        #expect(keys.credential(forAccessKeyId: "B") == b)
        // A reload that moves the expiry reports the key as changed and brings it back.
        let change = keys.replace(with: .init(credentials: [a, b], policies: [:], expires: ["A": 1_900_000_000]))
        #expect(change.changed == ["A"])
        #expect(keys.credential(forAccessKeyId: "A") == a)
    }

    /// A settable clock for the tests (the lock makes the `Sendable` closure safe).
    final class Clock: Sendable {
        private let value = Mutex<Int64>(0)
        var now: Int64 {
            get { value.withLock { $0 } }
            set { value.withLock { $0 = newValue } }
        }
    }
}
