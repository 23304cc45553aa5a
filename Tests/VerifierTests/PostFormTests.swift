import Foundation
import Testing

@testable import Verifier

/// Minted forms verify with `PostPolicy.verify`, and each of their conditions holds.
@Suite("PostForm minting")
struct PostFormTests {
    static let credential = Credential(accessKeyId: "AKIDMINT", secretAccessKey: "mint-secret")
    static let verifier = SigV4Verifier(
        configuration: .init(regions: ["eu-west-1"]),
        credentials: InMemoryCredentialStore([credential])
    )
    static let now: Int64 = 1_767_323_045

    static func mint(key: String = "a/b.txt", keyIsPrefix: Bool = false, contentType: String? = "text/plain")
        -> PostForm
    {
        PostForm.mint(
            bucket: "my-bucket",
            key: key,
            keyIsPrefix: keyIsPrefix,
            contentType: contentType,
            maxSize: 1024,
            minSize: 1,
            expiresIn: 300,
            credential: credential,
            region: "eu-west-1",
            now: now
        )
    }

    func verify(_ fields: [(name: String, value: String)], now: Int64 = now, filename: String = "f.txt")
        throws(S3Error) -> PostPolicy.Verified
    {
        try PostPolicy.verify(fields: fields, bucket: "my-bucket", filename: filename, now: now, verifier: Self.verifier)
    }

    @Test("a minted form round-trips through verify with its key, scope and size range")
    func roundTrip() throws {
        let form = Self.mint()
        #expect(form.path == "/my-bucket")
        #expect(form.expiration == Self.now + 300)
        #expect(form.fieldDictionary["x-amz-credential"] == "AKIDMINT/20260102/eu-west-1/s3/aws4_request")
        let verified = try verify(form.fields)
        #expect(verified.accessKeyId == "AKIDMINT")
        #expect(verified.key == "a/b.txt")
        #expect(verified.scope.region == "eu-west-1")
        #expect(verified.contentLengthRange == 1...1024)
        #expect(throws: S3Error.self) { try verified.checkLength(1025) }
        #expect(throws: S3Error.self) { try verified.checkLength(0) }
        #expect(throws: Never.self) { try verified.checkLength(1024) }
    }

    @Test("a key prefix allows any name under it, ${filename} included, and nothing outside")
    func keyPrefix() throws {
        let form = Self.mint(key: "uploads/", keyIsPrefix: true)
        #expect(try verify(form.fields, filename: "cat.png").key == "uploads/cat.png")
        var renamed = form.fields
        renamed[renamed.firstIndex { $0.name == "key" }!].value = "uploads/other"
        #expect(try verify(renamed).key == "uploads/other")
        var outside = form.fields
        outside[outside.firstIndex { $0.name == "key" }!].value = "elsewhere/x"
        let error = #expect(throws: S3Error.self) { try verify(outside) }
        #expect(error?.message.hasPrefix("Invalid according to Policy: Policy Condition failed") == true)
    }

    @Test("the content type is bound; expiry and a changed field are refused")
    func refusals() throws {
        let form = Self.mint()
        var typed = form.fields
        typed[typed.firstIndex { $0.name == "Content-Type" }!].value = "text/html"
        #expect(throws: S3Error.self) { try verify(typed) }
        let expired = #expect(throws: S3Error.self) { try verify(form.fields, now: Self.now + 301) }
        #expect(expired?.message == "Invalid according to Policy: Policy expired.")
        var forged = form.fields
        forged[forged.firstIndex { $0.name == "x-amz-signature" }!].value = String(repeating: "a", count: 64)
        #expect((#expect(throws: S3Error.self) { try verify(forged) })?.code == .signatureDoesNotMatch)
        #expect(try verify(Self.mint(contentType: nil).fields).key == "a/b.txt")
    }

    @Test("a session token goes in the form and in the policy")
    func sessionToken() throws {
        let temporary = Credential(accessKeyId: "ASIATEMP", secretAccessKey: "s", sessionToken: "tok")
        let verifier = SigV4Verifier(
            configuration: .init(regions: ["us-east-1"]),
            credentials: InMemoryCredentialStore([temporary])
        )
        let form = PostForm.mint(
            bucket: "b", key: "k", expiresIn: 60, credential: temporary, region: "us-east-1", now: Self.now
        )
        #expect(form.fieldDictionary["x-amz-security-token"] == "tok")
        #expect(throws: Never.self) {
            _ = try PostPolicy.verify(fields: form.fields, bucket: "b", filename: nil, now: Self.now, verifier: verifier)
        }
    }

    @Test("success_action_redirect and success_action_status go in the form and are bound by the policy")
    func successFields() throws {
        let form = PostForm.mint(
            bucket: "my-bucket", key: "k", successActionStatus: 201,
            successActionRedirect: "https://app.example.com/done", expiresIn: 60, credential: Self.credential,
            region: "eu-west-1", now: Self.now
        )
        #expect(form.fieldDictionary["success_action_redirect"] == "https://app.example.com/done")
        #expect(form.fieldDictionary["success_action_status"] == "201")
        // The file comes after every field: the signature and policy last.
        #expect(form.fields.last?.name == "x-amz-signature")
        #expect(throws: Never.self) { try verify(form.fields) }
        var redirected = form.fields
        redirected[redirected.firstIndex { $0.name == "success_action_redirect" }!].value = "https://evil.example/"
        #expect(throws: S3Error.self) { try verify(redirected) }
    }
}
