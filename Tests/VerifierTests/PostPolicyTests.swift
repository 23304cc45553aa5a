import Foundation
import Testing

@testable import Verifier

/// Browser form uploads: the S3 documentation's POST example, and each policy rule provoked.
@Suite("POST policy")
struct PostPolicyTests {
    static let docs = S3ExamplesTests.cases.first { $0.id == "s3-post-policy-docs" }!
    static let docsFields: [(name: String, value: String)] = {
        let json = try! JSONSerialization.jsonObject(with: Fixtures.data("s3-examples.json")) as! [String: Any]
        let cases = json["cases"] as! [[String: Any]]
        let docs = cases.first { $0["id"] as? String == "s3-post-policy-docs" }!
        return (docs["form_fields"] as! [[String]]).map { (name: $0[0], value: $0[1]) }
    }()
    static let verifier = SigV4Verifier(
        credentials: InMemoryCredentialStore([
            Credential(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        ])
    )
    static let docsNow = AmzTime.parseBasic("20151229T000000Z")! + 3600

    func verify(
        _ fields: [(name: String, value: String)],
        bucket: String = "sigv4examplebucket",
        now: Int64 = docsNow
    ) throws(S3Error) -> PostPolicy.Verified {
        try PostPolicy.verify(fields: fields, bucket: bucket, filename: "photo.jpg", now: now, verifier: Self.verifier)
    }

    func reject(_ fields: [(name: String, value: String)], bucket: String = "sigv4examplebucket", now: Int64 = docsNow) -> S3Error? {
        #expect(throws: S3Error.self) { try verify(fields, bucket: bucket, now: now) }
    }

    func replacing(_ name: String, with value: String?) -> [(name: String, value: String)] {
        var fields = Self.docsFields.filter { $0.name.lowercased() != name.lowercased() }
        if let value { fields.append((name, value)) }
        return fields
    }

    /// Signs a policy of the test's own with the independent test signer.
    static func signed(policy: String, extra: [(String, String)], date: String = "20151229T000000Z") -> [(name: String, value: String)] {
        let base64 = Data(policy.utf8).base64EncodedString()
        let signer = TestSigner(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        let signature = signer.signature(stringToSign: base64, date: String(date.prefix(8)))
        return extra.map { (name: $0.0, value: $0.1) } + [
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", "AKIAIOSFODNN7EXAMPLE/\(date.prefix(8))/us-east-1/s3/aws4_request"),
            ("x-amz-date", date), ("policy", base64), ("x-amz-signature", signature),
        ]
    }

    static let standardConditions = """
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, ["starts-with", "$x-amz-credential", ""], ["starts-with", "$x-amz-date", ""]
        """

    @Test("the documented POST form verifies and its key takes the file name")
    func docsExample() throws {
        let verified = try verify(Self.docsFields)
        #expect(verified.accessKeyId == "AKIAIOSFODNN7EXAMPLE")
        #expect(verified.key == "user/user1/photo.jpg")
        #expect(verified.contentLengthRange == nil)
    }

    @Test("an expired policy is AccessDenied 'Policy expired'")
    func expired() {
        let error = reject(Self.docsFields, now: AmzTime.parseExtended("2015-12-30T12:00:01Z")!)
        #expect(error?.code == .accessDenied)
        #expect(error?.message == "Invalid according to Policy: Policy expired.")
    }

    @Test("a field outside its condition fails the condition, naming it")
    func conditionFailed() {
        let acl = reject(replacing("acl", with: "private"))
        #expect(acl?.code == .accessDenied)
        #expect(acl?.message == "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$acl\", \"public-read\"]")
        let type = reject(replacing("Content-Type", with: "text/html"))
        #expect(type?.message.contains("[\"starts-with\", \"$Content-Type\", \"image/\"]") == true)
        let key = reject(replacing("key", with: "user/other/${filename}"))
        #expect(key?.message.contains("$key") == true)
        #expect(reject(Self.docsFields, bucket: "otherbucket")?.message.contains("$bucket") == true)
        #expect(reject(replacing("x-amz-meta-tag", with: nil))?.message.contains("$x-amz-meta-tag") == true)
    }

    @Test("a field no condition covers is refused as an extra input field; exempt fields are not")
    func extraFields() {
        var fields = Self.docsFields
        fields.append(("x-amz-meta-smuggled", "1"))
        #expect(reject(fields)?.message == "Invalid according to Policy: Extra input fields: x-amz-meta-smuggled")
        var exempt = Self.docsFields
        exempt.append(("x-ignore-tracking", "1"))
        #expect((try? verify(exempt)) != nil)
    }

    @Test("a tampered policy or signature is SignatureDoesNotMatch; an unknown key InvalidAccessKeyId")
    func signature() {
        let policy = Self.docsFields.first { $0.name == "Policy" }!.value
        let tampered = replacing("Policy", with: String(policy.dropLast(4)) + "fQ==")
        #expect(reject(tampered)?.code == .signatureDoesNotMatch)
        #expect(reject(replacing("X-Amz-Signature", with: String(repeating: "0", count: 64)))?.code == .signatureDoesNotMatch)
        let unknown = replacing("X-Amz-Credential", with: "AKIDNOBODY/20151229/us-east-1/s3/aws4_request")
        #expect(reject(unknown)?.code == .invalidAccessKeyId)
    }

    @Test("broken forms are InvalidArgument: no key, no policy, a foreign scope, a repeated field")
    func brokenForms() {
        #expect(reject(replacing("key", with: nil))?.code == .invalidArgument)
        #expect(reject(replacing("Policy", with: nil))?.code == .invalidArgument)
        #expect(reject(replacing("X-Amz-Credential", with: "AKIAIOSFODNN7EXAMPLE/20151229/eu-west-9/s3/aws4_request"))?.code == .invalidArgument)
        var repeated = Self.docsFields
        repeated.append(("KEY", "again"))
        #expect(reject(repeated)?.code == .invalidArgument)
    }

    @Test("content-length-range bounds the file's size: EntityTooLarge, EntityTooSmall")
    func contentLengthRange() throws {
        let fields = Self.signed(
            policy: """
                {"expiration": "2015-12-30T12:00:00Z", "conditions": [\(Self.standardConditions),
                 {"bucket": "sigv4examplebucket"}, ["starts-with", "$key", "uploads/"], ["content-length-range", 1, 10]]}
                """,
            extra: [("key", "uploads/${filename}")]
        )
        let verified = try verify(fields)
        #expect(verified.key == "uploads/photo.jpg")
        #expect(verified.contentLengthRange == 1...10)
        try verified.checkLength(10)
        #expect(throws: S3Error.self) { try verified.checkLength(11) }
        let large = #expect(throws: S3Error.self) { try verified.checkLength(11) }
        #expect(large?.code == .entityTooLarge)
        let small = #expect(throws: S3Error.self) { try verified.checkLength(0) }
        #expect(small?.code == .entityTooSmall)
    }

    @Test("an empty starts-with prefix allows any value")
    func emptyPrefix() throws {
        let fields = Self.signed(
            policy: """
                {"expiration": "2015-12-30T12:00:00.000Z", "conditions": [\(Self.standardConditions),
                 ["eq", "$bucket", "sigv4examplebucket"], ["starts-with", "$key", ""], ["starts-with", "$Content-Type", ""]]}
                """,
            extra: [("key", "any/thing ✓"), ("Content-Type", "text/whatever")]
        )
        #expect(try verify(fields).key == "any/thing ✓")
    }

    @Test("a signed but malformed policy is InvalidPolicyDocument", arguments: [
        "not json", #"{"conditions": []}"#, #"{"expiration": "tomorrow", "conditions": []}"#,
        #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [["between", "$key", "a"]]}"#,
        #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [["content-length-range", 10, 1]]}"#,
        #"{"expiration": "2015-12-30T12:00:00Z", "conditions": [{"acl": 5}]}"#,
    ])
    func malformedPolicy(_ policy: String) {
        let fields = Self.signed(policy: policy, extra: [("key", "k")])
        #expect(reject(fields)?.code == .invalidPolicyDocument)
    }
}
