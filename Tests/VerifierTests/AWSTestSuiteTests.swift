import Foundation
import Testing

@testable import Verifier

/// The AWS SigV4 test suite (both formats), checked at the canonical request, the string to sign and
/// the signature. The suite signs for a generic service, whose path rules differ from S3's in exactly
/// the normalization cases below; those are checked against their S3-style (unnormalized) twins.
@Suite("AWS SigV4 test suite")
struct AWSTestSuiteTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let scope = CredentialScope(date: "20150830", region: "us-east-1", service: "service")
    static let key = SigningKey(secretAccessKey: secret, date: "20150830", region: "us-east-1", service: "service")

    /// Classic cases whose expected canonical URI is the generic-service normalization of the path;
    /// S3 never normalizes (the suite's own normalize-path.txt says so).
    static let normalizingCases: Set<String> = [
        "get-relative", "get-relative-relative", "get-slash", "get-slash-dot-slash", "get-slash-pointless-dot",
        "get-slashes",
    ]

    static let classicCases: [String] = {
        var cases: [String] = []
        for dir in (try? Fixtures.directories("aws-sig-v4-test-suite")) ?? [] {
            if dir == "normalize-path" || dir == "post-sts-token" {
                for sub in (try? Fixtures.directories("aws-sig-v4-test-suite/\(dir)")) ?? [] {
                    cases.append("\(dir)/\(sub)")
                }
            } else {
                cases.append(dir)
            }
        }
        return cases
    }()

    @Test("the suite's fixtures are all present")
    func fixturesPresent() throws {
        #expect(Self.classicCases.count == 34)
        #expect(try Fixtures.directories("aws-signing-test-suite/v4").count == 38)
    }

    @Test("classic case: canonical request, string to sign and signature match", arguments: classicCases)
    func classicCase(_ path: String) throws {
        let name = String(path.split(separator: "/").last!)
        let base = "aws-sig-v4-test-suite/\(path)/\(name)"
        let request = try RawRequest(parsing: try Fixtures.text(base + ".sreq"))
        let authz = AuthorizationFields(try Fixtures.text(base + ".authz"))
        let timestamp = request.headers.first { $0.name.lowercased() == "x-amz-date" }!.value

        let built = try CanonicalRequest.build(
            method: request.method,
            rawPath: request.head.rawPath,
            rawQuery: request.head.rawQuery,
            headers: request.headers,
            signedHeaders: authz.signedHeaders,
            payloadHash: sha256Hex(request.body)
        )
        #expect(built.missingHeaders.isEmpty)

        if Self.normalizingCases.contains(name) {
            // S3 keeps the path exactly as sent; the generic-service expectation normalizes it.
            let uriLine = built.text.split(separator: "\n", omittingEmptySubsequences: false)[1]
            #expect(uriLine == request.head.rawPath)
            #expect(built.text != (try Fixtures.text(base + ".creq")))
            return
        }
        #expect(built.text == (try Fixtures.text(base + ".creq")))
        let sts = CanonicalRequest.stringToSign(canonicalRequest: built.bytes, timestamp: timestamp, scope: Self.scope)
        #expect(String(decoding: sts, as: UTF8.self) == (try Fixtures.text(base + ".sts")))
        #expect(Self.key.signatureHex(sts) == authz.signature)
    }

    static let v4Cases: [String] = (try? Fixtures.directories("aws-signing-test-suite/v4")) ?? []

    struct Context: Decodable {
        var normalize: Bool
        var sign_body: Bool
        var expiration_in_seconds: Int
        var omit_session_token: Bool?
    }

    @Test("v4 case, header form: canonical request, string to sign and signature match", arguments: v4Cases)
    func v4HeaderCase(_ name: String) throws {
        let base = "aws-signing-test-suite/v4/\(name)/"
        let request = try RawRequest(parsing: try Fixtures.text(base + "header-signed-request.txt"))
        let authorization = request.headers.first { $0.name == "Authorization" }!.value
        let authz = AuthorizationFields(authorization)
        let timestamp = request.headers.first { $0.name.lowercased() == "x-amz-date" }!.value
        let built = try CanonicalRequest.build(
            method: request.method,
            rawPath: request.head.rawPath,
            rawQuery: request.head.rawQuery,
            headers: request.headers,
            signedHeaders: authz.signedHeaders,
            payloadHash: sha256Hex(request.body)
        )
        let expectedFile = try s3ExpectedCanonicalFile(name: name, form: "header")
        #expect(built.text == (try Fixtures.text(expectedFile)))
        if expectedFile.hasPrefix(base) {
            let sts = CanonicalRequest.stringToSign(
                canonicalRequest: built.bytes,
                timestamp: timestamp,
                scope: Self.scope
            )
            #expect(String(decoding: sts, as: UTF8.self) == (try Fixtures.text(base + "header-string-to-sign.txt")))
            #expect(Self.key.signatureHex(sts) == (try Fixtures.text(base + "header-signature.txt")))
            #expect(authz.signature == (try Fixtures.text(base + "header-signature.txt")))
        }
    }

    @Test("v4 case, presigned form: canonical request, string to sign and signature match", arguments: v4Cases)
    func v4QueryCase(_ name: String) throws {
        let base = "aws-signing-test-suite/v4/\(name)/"
        var request = try RawRequest(parsing: try Fixtures.text(base + "query-signed-request.txt"))
        let context = try JSONDecoder().decode(Context.self, from: try Fixtures.data(base + "context.json"))
        if context.omit_session_token == true {
            // The suite's "token added after signing" case: the token rides in the URL but was never part of
            // the canonical query. (An S3 presigned URL always signs it; the full verifier refuses this form.)
            request.uri = request.uri.replacingOccurrences(
                of: #"&X-Amz-Security-Token=[^&]*"#,
                with: "",
                options: .regularExpression
            )
        }
        let query = try #require(QueryParameters(rawQuery: request.head.rawQuery))
        let signedHeaders = query.value("X-Amz-SignedHeaders")!.split(separator: ";").map(String.init)
        let built = try CanonicalRequest.build(
            method: request.method,
            rawPath: request.head.rawPath,
            rawQuery: request.head.rawQuery,
            excludingQueryParameter: "X-Amz-Signature",
            headers: request.headers,
            signedHeaders: signedHeaders,
            payloadHash: sha256Hex(request.body)
        )
        let expectedFile = try s3ExpectedCanonicalFile(name: name, form: "query")
        #expect(built.text == (try Fixtures.text(expectedFile)))
        if expectedFile.hasPrefix(base) {
            let sts = CanonicalRequest.stringToSign(
                canonicalRequest: built.bytes,
                timestamp: query.value("X-Amz-Date")!,
                scope: Self.scope
            )
            #expect(String(decoding: sts, as: UTF8.self) == (try Fixtures.text(base + "query-string-to-sign.txt")))
            #expect(Self.key.signatureHex(sts) == (try Fixtures.text(base + "query-signature.txt")))
            #expect(query.value("X-Amz-Signature") == (try Fixtures.text(base + "query-signature.txt")))
        }
    }

    /// The v4 cases that sign the body hash carry `x-amz-content-sha256`, so the whole verifier (not
    /// only its canonicalization) can decide them, with the suite's service name and time.
    @Test("v4 signed-body cases pass the full verifier", arguments: ["post-x-www-form-urlencoded", "post-x-www-form-urlencoded-parameters"])
    func v4SignedBodyFullVerification(_ name: String) throws {
        let request = try RawRequest(
            parsing: try Fixtures.text("aws-signing-test-suite/v4/\(name)/header-signed-request.txt")
        )
        let verifier = SigV4Verifier(
            configuration: .init(regions: ["us-east-1"], service: "service"),
            credentials: InMemoryCredentialStore([Credential(accessKeyId: "AKIDEXAMPLE", secretAccessKey: Self.secret)])
        )
        let now = AmzTime.parseBasic("20150830T123600Z")!
        let auth = try verifier.authenticate(request.head, now: now)
        #expect(auth.accessKeyId == "AKIDEXAMPLE")
        #expect(auth.payload == .sha256(Array(Crypto.SHA256.hash(data: request.body))))
        #expect(auth.contentTypeBound)
    }

    /// For the generic-service cases that normalize the path, S3's canonical request is the one of the
    /// `-unnormalized` twin (same request, `normalize: false`).
    private func s3ExpectedCanonicalFile(name: String, form: String) throws -> String {
        let base = "aws-signing-test-suite/v4/\(name)/"
        let context = try JSONDecoder().decode(Context.self, from: try Fixtures.data(base + "context.json"))
        if context.normalize, name.hasSuffix("-normalized") {
            let twin = String(name.dropLast("-normalized".count)) + "-unnormalized"
            let twinFile = "aws-signing-test-suite/v4/\(twin)/\(form)-canonical-request.txt"
            if (try? Fixtures.data(twinFile)) != nil { return twinFile }
        }
        return base + "\(form)-canonical-request.txt"
    }
}

import Crypto
