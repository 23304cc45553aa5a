import Foundation
import Testing
import Verifier

@testable import Proxy

/// `"action": "post"` of the presign API: a signed browser form, on the API's logic alone (frozen clock).
/// Minted forms are checked with the verifier's own `PostPolicy`, the one form uploads go through.
@Suite("Presign API: post forms")
struct PresignAPIPostTests {
    typealias Base = PresignAPITests

    /// 2026-02-10T00:00:00Z, the clock of `Base.makeAPI`.
    static let now: Int64 = Base.start / 1000
    static let verifier = SigV4Verifier(
        configuration: .init(regions: ["us-east-1"]),
        credentials: InMemoryCredentialStore([Base.credential, Base.limited])
    )

    static func form(_ json: [String: Any]) throws -> (url: String, fields: [(name: String, value: String)]) {
        let data = try #require(json["data"] as? [String: Any])
        let url = try #require(data["url"] as? String)
        let fields = try #require(data["fields"] as? [String: String])
        return (url, fields.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) })
    }

    static func verify(
        _ fields: [(name: String, value: String)],
        bucket: String = "f13",
        filename: String = "report.pdf",
        at now: Int64 = now
    ) throws(S3Error) -> PostPolicy.Verified {
        try PostPolicy.verify(fields: fields, bucket: bucket, filename: filename, now: now, verifier: verifier)
    }

    static func replacing(_ fields: [(name: String, value: String)], _ name: String, with value: String)
        -> [(name: String, value: String)]
    {
        fields.filter { $0.name != name } + [(name, value)]
    }

    static func expectValidation(_ body: String, field: String, key: String = "app-key") {
        let (response, json) = Base.presign(Base.makeAPI(), body, key: key)
        #expect(response.status == .badRequest, "\(body)")
        #expect(json["code"] as? String == "VALIDATION_ERROR", "\(body)")
        #expect(json["field"] as? String == field, "\(body): \(json)")
        #expect((json["message"] as? String)?.contains(field) == true, "\(body): \(json)")
    }

    // MARK: - 200

    @Test("a post form has the envelope, the public URL of the bucket, and fields that verify")
    func formVerifies() throws {
        let (response, json) = Base.presign(
            Base.makeAPI(),
            #"{"key": "docs/report.pdf", "action": "post", "contentType": "application/pdf", "#
                + #""maxSize": 1048576, "expiresIn": 600}"#
        )
        #expect(response.status == .ok)
        #expect(json["success"] as? Bool == true)
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["method"] as? String == "POST")
        #expect(data["expiresIn"] as? Int == 600)
        #expect(data["headers"] == nil)
        let (url, fields) = try Self.form(json)
        #expect(url == "https://files.example.com/f13")
        let names = Set(fields.map(\.name))
        #expect(
            names == [
                "key", "Content-Type", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "policy",
                "x-amz-signature",
            ]
        )
        let verified = try Self.verify(fields)
        #expect(verified.accessKeyId == "AKPRESIGN")
        #expect(verified.key == "docs/report.pdf")
        #expect(verified.contentLengthRange == 0...1_048_576)
        #expect(throws: Never.self) { try verified.checkLength(1_048_576) }
        #expect(throws: S3Error.self) { try verified.checkLength(1_048_577) }

        // The policy expires with expiresIn.
        #expect(throws: Never.self) { try Self.verify(fields, at: Self.now + 599) }
        #expect(throws: S3Error.self) { try Self.verify(fields, at: Self.now + 601) }
    }

    @Test("contentType is an eq condition: another type, or another key, is refused")
    func conditionsHold() throws {
        let (_, json) = Base.presign(
            Base.makeAPI(),
            #"{"key": "docs/report.pdf", "action": "post", "contentType": "application/pdf"}"#
        )
        let (_, fields) = try Self.form(json)
        #expect(throws: Never.self) { try Self.verify(fields) }
        for (name, value) in [("Content-Type", "text/html"), ("key", "docs/other.pdf")] {
            #expect {
                try Self.verify(Self.replacing(fields, name, with: value))
            } throws: { error in
                (error as? S3Error)?.code == .accessDenied
                    && (error as? S3Error)?.message.contains("Policy Condition failed") == true
            }
        }
        // Another bucket than the one minted for.
        #expect(throws: S3Error.self) { try Self.verify(fields, bucket: "other-bucket") }
    }

    @Test("without maxSize the form allows up to 5 GiB, S3's largest single upload")
    func defaultMaxSize() throws {
        let (_, json) = Base.presign(Base.makeAPI(), #"{"key": "big.bin", "action": "post"}"#)
        let (_, fields) = try Self.form(json)
        let verified = try Self.verify(fields)
        #expect(verified.contentLengthRange == 0...5_368_709_120)
        #expect(!fields.contains { $0.name == "Content-Type" })
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["expiresIn"] as? Int == 900)
    }

    @Test("keyPrefix lets the browser's file name complete the key, within the prefix only")
    func keyPrefix() throws {
        let (response, json) = Base.presign(
            Base.makeAPI(),
            #"{"key": "uploads/", "keyPrefix": true, "action": "post"}"#
        )
        #expect(response.status == .ok)
        let (_, fields) = try Self.form(json)
        #expect(fields.first { $0.name == "key" }?.value == "uploads/${filename}")
        #expect(try Self.verify(fields, filename: "cat.png").key == "uploads/cat.png")
        #expect(try Self.verify(Self.replacing(fields, "key", with: "uploads/dog.png")).key == "uploads/dog.png")
        #expect(throws: S3Error.self) { try Self.verify(Self.replacing(fields, "key", with: "elsewhere/dog.png")) }

        // An empty prefix: the whole bucket.
        let (whole, wholeJSON) = Base.presign(Base.makeAPI(), #"{"key": "", "keyPrefix": true, "action": "post"}"#)
        #expect(whole.status == .ok)
        let (_, anyFields) = try Self.form(wholeJSON)
        #expect(try Self.verify(anyFields, filename: "x.txt").key == "x.txt")
    }

    @Test("successActionRedirect and successActionStatus become fields the policy binds")
    func successFields() throws {
        let (_, json) = Base.presign(
            Base.makeAPI(),
            #"{"key": "a.txt", "action": "post", "successActionRedirect": "https://app.example.com/done?x=1", "#
                + #""successActionStatus": 201}"#
        )
        let (_, fields) = try Self.form(json)
        #expect(fields.first { $0.name == "success_action_redirect" }?.value == "https://app.example.com/done?x=1")
        #expect(fields.first { $0.name == "success_action_status" }?.value == "201")
        #expect(throws: Never.self) { try Self.verify(fields) }
        #expect(throws: S3Error.self) {
            try Self.verify(Self.replacing(fields, "success_action_redirect", with: "https://evil.example.com/"))
        }
    }

    // MARK: - 400

    @Test(
        "a wrong post field is a VALIDATION_ERROR naming it",
        arguments: [
            (#"{"key": "a", "action": "post", "maxSize": "10"}"#, "maxSize"),
            (#"{"key": "a", "action": "post", "maxSize": -1}"#, "maxSize"),
            (#"{"key": "a", "action": "post", "maxSize": 0}"#, "maxSize"),
            (#"{"key": "a", "action": "post", "maxSize": 1.5}"#, "maxSize"),
            (#"{"key": "a", "action": "post", "maxSize": 5368709121}"#, "maxSize"),
            (#"{"key": "a", "action": "post", "maxSize": 1e300}"#, "maxSize"),
            (#"{"key": "a", "action": "post", "keyPrefix": "yes"}"#, "keyPrefix"),
            (#"{"key": "a", "action": "post", "successActionStatus": 302}"#, "successActionStatus"),
            (#"{"key": "a", "action": "post", "successActionStatus": "201"}"#, "successActionStatus"),
            (#"{"key": "a", "action": "post", "successActionRedirect": "javascript:1"}"#, "successActionRedirect"),
            (#"{"key": "a", "action": "post", "successActionRedirect": "https://a b"}"#, "successActionRedirect"),
            (#"{"key": "a", "action": "post", "successActionRedirect": 7}"#, "successActionRedirect"),
            (#"{"key": "a", "action": "post", "contentType": "text/plain\r\nX: y"}"#, "contentType"),
            (#"{"key": "", "action": "post"}"#, "key"),
            (#"{"key": "", "action": "post", "keyPrefix": false}"#, "key"),
            (#"{"action": "post", "keyPrefix": true}"#, "key"),
            (#"{"key": "a", "action": "post", "expiresIn": 604801}"#, "expiresIn"),
            // Form fields belong to forms only.
            (#"{"key": "a", "action": "upload", "maxSize": 10}"#, "maxSize"),
            (#"{"key": "a", "action": "download", "keyPrefix": true}"#, "keyPrefix"),
            (#"{"key": "a", "action": "upload", "successActionRedirect": "https://a/"}"#, "successActionRedirect"),
            (#"{"key": "a", "action": "upload", "successActionStatus": 201}"#, "successActionStatus"),
        ]
    )
    func validation(body: String, field: String) {
        Self.expectValidation(body, field: field)
    }

    @Test("a key prefix over 1024 bytes is refused")
    func longPrefix() {
        let prefix = String(repeating: "p", count: 1025)
        Self.expectValidation(#"{"key": "\#(prefix)", "keyPrefix": true, "action": "post"}"#, field: "key")
    }

    // MARK: - 403

    @Test(
        "post needs write on the key, or on the whole prefix",
        arguments: [
            (#"{"key": "uploads/a.txt", "action": "post"}"#, true),
            (#"{"key": "uploads/", "keyPrefix": true, "action": "post"}"#, true),
            (#"{"key": "uploads/2026/", "keyPrefix": true, "action": "post"}"#, true),
            // "uploads" alone would let a browser write "uploads-evil".
            (#"{"key": "uploads", "keyPrefix": true, "action": "post"}"#, false),
            (#"{"key": "", "keyPrefix": true, "action": "post"}"#, false),
            (#"{"key": "other/a.txt", "action": "post"}"#, false),
            // read-only there
            (#"{"key": "public/a.txt", "action": "post"}"#, false),
            (#"{"key": "public/", "keyPrefix": true, "action": "post"}"#, false),
        ]
    )
    func policy(body: String, allowed: Bool) {
        let (response, json) = Base.presign(Base.makeAPI(), body, key: "limited-key", bucket: "photos")
        if allowed {
            #expect(response.status == .ok, "\(body): \(json)")
        } else {
            #expect(response.status == .forbidden, "\(body)")
            #expect(json["code"] as? String == "FORBIDDEN")
        }
    }

    @Test("unknown or missing API keys are refused before anything else")
    func unauthorized() {
        for key in [nil, "nope"] as [String?] {
            let (response, json) = Base.presign(Base.makeAPI(), #"{"key": "a", "action": "post"}"#, key: key)
            #expect(response.status == .unauthorized)
            #expect(json["code"] as? String == "UNAUTHORIZED")
        }
    }

    // MARK: - 429

    @Test("forms count against the key's presign rate limit like URLs")
    func rateLimited() {
        let api = Base.makeAPI(perMinute: 2)
        #expect(Base.presign(api, #"{"key": "a", "action": "post"}"#).0.status == .ok)
        #expect(Base.presign(api, #"{"key": "a", "action": "upload"}"#).0.status == .ok)
        let (response, json) = Base.presign(api, #"{"key": "a", "action": "post"}"#)
        #expect(response.status == .tooManyRequests)
        #expect(json["code"] as? String == "RATE_LIMITED")
        #expect(Base.header(response, "Retry-After") != nil)
    }
}
