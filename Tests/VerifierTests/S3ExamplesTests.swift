import Foundation
import Testing

@testable import Verifier

/// The worked examples of the AWS S3 API Reference, decided by the full verifier.
@Suite("S3 documentation examples")
struct S3ExamplesTests {
    struct Case: Decodable, CustomTestStringConvertible, Sendable {
        struct Credentials: Decodable, Sendable {
            var access_key_id: String
            var secret_access_key: String
        }
        var id: String
        var type: String
        var credentials: Credentials
        var region: String
        var x_amz_date: String
        var method: String?
        var path: String?
        var query: String?
        var headers: [[String]]?
        var signed_headers: String?
        var canonical_request: String?
        var string_to_sign: String
        var signature: String
        var authorization: String?
        var presigned_url: String?
        var seed_signature: String?
        var policy_base64: String?

        var testDescription: String { id }

        var head: S3RequestHead {
            var uri = path ?? "/"
            if let query, !query.isEmpty { uri += "?" + query }
            if let presigned_url, let q = presigned_url.firstIndex(of: "?") {
                uri = (path ?? "/") + presigned_url[q...]
            }
            var fields = (headers ?? []).map { (name: $0[0], value: $0[1]) }
            if let authorization { fields.append(("Authorization", authorization)) }
            return S3RequestHead(method: method ?? "GET", uri: uri, headers: fields)
        }

        var now: Int64 { AmzTime.parseBasic(x_amz_date)! }

        var verifier: SigV4Verifier {
            SigV4Verifier(
                configuration: .init(regions: [region]),
                credentials: InMemoryCredentialStore([
                    Credential(accessKeyId: credentials.access_key_id, secretAccessKey: credentials.secret_access_key)
                ])
            )
        }
    }

    struct File: Decodable { var cases: [Case] }

    static let cases: [Case] = {
        (try? JSONDecoder().decode(File.self, from: Fixtures.data("s3-examples.json")).cases) ?? []
    }()

    static var requestCases: [Case] { cases.filter { $0.type != "post-policy" } }
    static var policyCases: [Case] { cases.filter { $0.type == "post-policy" } }

    @Test("every example is loaded")
    func loaded() {
        #expect(Self.requestCases.count == 7)
        #expect(Self.policyCases.count == 3)
    }

    @Test("canonical request and string to sign are S3's", arguments: requestCases)
    func canonicalAndStringToSign(_ example: Case) throws {
        let head = example.head
        let presigned = example.type == "presigned-url"
        let payloadHash = presigned
            ? "UNSIGNED-PAYLOAD"
            : head.firstValue(of: "x-amz-content-sha256")!
        let built = try CanonicalRequest.build(
            method: head.method,
            rawPath: head.rawPath,
            rawQuery: head.rawQuery,
            excludingQueryParameter: presigned ? "X-Amz-Signature" : nil,
            headers: head.headers,
            signedHeaders: example.signed_headers!.split(separator: ";").map(String.init),
            payloadHash: payloadHash
        )
        #expect(built.text == example.canonical_request)
        let scope = CredentialScope(date: String(example.x_amz_date.prefix(8)), region: example.region, service: "s3")
        let sts = CanonicalRequest.stringToSign(canonicalRequest: built.bytes, timestamp: example.x_amz_date, scope: scope)
        #expect(String(decoding: sts, as: UTF8.self) == example.string_to_sign)
    }

    @Test("the full verifier accepts the example", arguments: requestCases)
    func verifierAccepts(_ example: Case) throws {
        let auth = try example.verifier.authenticate(example.head, now: example.now)
        #expect(auth.accessKeyId == example.credentials.access_key_id)
        #expect(auth.signature == (example.seed_signature ?? example.signature))
        #expect(auth.scope.description == "\(example.x_amz_date.prefix(8))/us-east-1/s3/aws4_request")
        switch example.type {
        case "presigned-url":
            #expect(auth.form == .presigned)
            #expect(auth.payload == .unsigned)
        case "chunked-upload":
            #expect(auth.payload == .streaming(.signed))
        case "chunked-upload-trailer":
            #expect(auth.payload == .streaming(.signedWithTrailer))
        default:
            #expect(auth.form == .header)
            guard case .sha256 = auth.payload else {
                Issue.record("expected a sha256 payload rule, got \(auth.payload)")
                return
            }
        }
    }

    @Test("a wrong secret fails every example with SignatureDoesNotMatch", arguments: requestCases)
    func wrongSecret(_ example: Case) throws {
        let verifier = SigV4Verifier(
            configuration: .init(regions: [example.region]),
            credentials: InMemoryCredentialStore([
                Credential(accessKeyId: example.credentials.access_key_id, secretAccessKey: "not-the-secret")
            ])
        )
        let error = #expect(throws: S3Error.self) { try verifier.authenticate(example.head, now: example.now) }
        #expect(error?.code == .signatureDoesNotMatch)
        #expect(error?.detail("StringToSign") == example.string_to_sign)
        #expect(error?.detail("CanonicalRequest") == example.canonical_request)
        #expect(error?.detail("SignatureProvided") == example.signature)
    }

    @Test("POST policy signatures use the same signing key", arguments: policyCases)
    func postPolicySignature(_ example: Case) throws {
        let key = SigningKey(
            secretAccessKey: example.credentials.secret_access_key,
            date: String(example.x_amz_date.prefix(8)),
            region: example.region,
            service: "s3"
        )
        #expect(example.string_to_sign == example.policy_base64)
        #expect(key.signatureHex(Array(example.policy_base64!.utf8)) == example.signature)
    }
}
