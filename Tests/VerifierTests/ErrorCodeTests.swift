import Foundation
import Testing

@testable import Verifier

/// Every S3 error the verifier can answer, each provoked on purpose, with S3's status and body details.
@Suite("Verifier error codes")
struct ErrorCodeTests {
    static let now: Int64 = 1_763_769_600  // 2025-11-22T00:00:00Z
    static let signer = TestSigner(accessKeyId: "AKIDTEST", secret: "s3cr3t/with+plus")
    static let verifier = SigV4Verifier(
        configuration: .init(regions: ["us-east-1", "eu-west-1"]),
        credentials: InMemoryCredentialStore([
            Credential(accessKeyId: "AKIDTEST", secretAccessKey: "s3cr3t/with+plus"),
            Credential(accessKeyId: "AKIDTEMP", secretAccessKey: "temp-secret", sessionToken: "the-session-token"),
        ])
    )

    static func get(
        signer: TestSigner = signer,
        path: String = "/bucket/key.txt",
        query: [(String, String)] = [],
        headers: [(String, String)] = [("Host", "s3.local")],
        unsignedHeaders: [(String, String)] = [],
        time: Int64 = now,
        expires: Int64? = nil
    ) -> S3RequestHead {
        signer.sign(
            method: "GET",
            path: path,
            query: query,
            headers: headers,
            unsignedHeaders: unsignedHeaders,
            payloadHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            time: time,
            presignExpires: expires
        ).head
    }

    func reject(_ head: S3RequestHead, now: Int64 = now, verifier: SigV4Verifier = verifier) -> S3Error? {
        #expect(throws: S3Error.self) { try verifier.authenticate(head, now: now) }
    }

    func replacing(_ head: S3RequestHead, header name: String, with value: String?) -> S3RequestHead {
        var head = head
        head.headers.removeAll { $0.name.lowercased() == name.lowercased() }
        if let value { head.headers.append((name, value)) }
        return head
    }

    func authorization(_ head: S3RequestHead) -> String { head.firstValue(of: "authorization")! }

    // MARK: - Baseline

    @Test("a correctly signed request passes in both forms")
    func baseline() throws {
        let header = try Self.verifier.authenticate(Self.get(), now: Self.now)
        #expect(header.form == .header)
        #expect(header.accessKeyId == "AKIDTEST")
        #expect(!header.contentTypeBound)
        let presigned = try Self.verifier.authenticate(Self.get(expires: 60), now: Self.now)
        #expect(presigned.form == .presigned)
        #expect(presigned.payload == .unsigned)
    }

    // MARK: - SignatureDoesNotMatch

    @Test("SignatureDoesNotMatch: wrong secret; body names the key, string to sign and canonical request, never the secret")
    func signatureDoesNotMatch() throws {
        let head = Self.get(signer: TestSigner(accessKeyId: "AKIDTEST", secret: "wrong"))
        let error = try #require(reject(head))
        #expect(error.code == .signatureDoesNotMatch)
        #expect(error.httpStatus == 403)
        #expect(error.detail("AWSAccessKeyId") == "AKIDTEST")
        #expect(error.detail("StringToSign")?.hasPrefix("AWS4-HMAC-SHA256\n") == true)
        #expect(error.detail("CanonicalRequest")?.hasPrefix("GET\n/bucket/key.txt\n") == true)
        #expect(error.detail("StringToSignBytes")?.hasPrefix("41 57 53 34") == true)
        #expect(error.detail("SignatureProvided")?.count == 64)
        let xml = error.xmlBody(resource: "/bucket/key.txt", requestId: "REQ1")
        #expect(!xml.contains("s3cr3t"))
        #expect(xml.contains("<Code>SignatureDoesNotMatch</Code>"))
    }

    @Test("SignatureDoesNotMatch: a signed header the request lacks")
    func signedHeaderMissing() throws {
        let head = Self.get(headers: [("Host", "s3.local"), ("x-amz-meta-color", "blue")])
        let error = try #require(reject(replacing(head, header: "x-amz-meta-color", with: nil)))
        #expect(error.code == .signatureDoesNotMatch)
        #expect(error.detail("SignedHeadersMissing") == "x-amz-meta-color")
    }

    // MARK: - InvalidAccessKeyId

    @Test("InvalidAccessKeyId: an unknown access key")
    func invalidAccessKeyId() throws {
        let error = try #require(reject(Self.get(signer: TestSigner(accessKeyId: "NOBODY", secret: "x"))))
        #expect(error.code == .invalidAccessKeyId)
        #expect(error.httpStatus == 403)
        #expect(error.detail("AWSAccessKeyId") == "NOBODY")
    }

    // MARK: - AccessDenied

    @Test("AccessDenied: an anonymous request")
    func anonymous() throws {
        let error = try #require(reject(S3RequestHead(method: "GET", uri: "/bucket/key", headers: [("Host", "x")])))
        #expect(error.code == .accessDenied)
        #expect(error.httpStatus == 403)
    }

    @Test("AccessDenied: an x-amz-* header present but not signed, in both forms")
    func unsignedAmzHeaders() throws {
        for expires in [nil, 300] as [Int64?] {
            let head = Self.get(
                unsignedHeaders: [("x-amz-tagging", "owner=mallory"), ("X-Amz-Acl", "public-read")],
                expires: expires
            )
            let error = try #require(reject(head))
            #expect(error.code == .accessDenied)
            #expect(error.message == "There were headers present in the request which were not signed")
            #expect(error.detail("HeadersNotSigned") == "x-amz-tagging, x-amz-acl")
        }
    }

    @Test("headers botocore leaves unsigned do not need a signature")
    func botocoreUnsignedHeadersPass() throws {
        let head = Self.get(unsignedHeaders: [
            ("Expect", "100-continue"), ("User-Agent", "Boto3/1.43"), ("X-Amzn-Trace-Id", "Root=1-abc"),
            ("Transfer-Encoding", "chunked"),
        ])
        _ = try Self.verifier.authenticate(head, now: Self.now)
    }

    @Test("AccessDenied: a presigned URL past its expiry, with X-Amz-Expires, Expires and ServerTime")
    func expired() throws {
        let head = Self.get(time: Self.now - 3601, expires: 3600)
        let error = try #require(reject(head))
        #expect(error.code == .accessDenied)
        #expect(error.message == "Request has expired")
        #expect(error.detail("X-Amz-Expires") == "3600")
        #expect(error.detail("Expires") == "2025-11-21T23:59:59Z")
        #expect(error.detail("ServerTime") == "2025-11-22T00:00:00Z")
    }

    @Test("a presigned URL is valid through its last second and for the full 7 days")
    func expiryBoundaries() throws {
        _ = try Self.verifier.authenticate(Self.get(time: Self.now - 3600, expires: 3600), now: Self.now)
        _ = try Self.verifier.authenticate(Self.get(time: Self.now - 604_800, expires: 604_800), now: Self.now)
        #expect(reject(Self.get(time: Self.now - 604_801, expires: 604_800))?.message == "Request has expired")
    }

    @Test("AccessDenied: a presigned URL dated beyond the skew into the future")
    func notYetValid() throws {
        let error = try #require(reject(Self.get(time: Self.now + 901, expires: 3600)))
        #expect(error.code == .accessDenied)
        #expect(error.message == "Request is not valid yet")
        _ = try Self.verifier.authenticate(Self.get(time: Self.now + 899, expires: 3600), now: Self.now)
    }

    @Test("AccessDenied: no usable date header")
    func missingDate() throws {
        let head = replacing(Self.get(), header: "x-amz-date", with: nil)
        #expect(reject(head)?.code == .accessDenied)
        let garbled = replacing(Self.get(), header: "x-amz-date", with: "yesterday")
        #expect(reject(garbled)?.message == "AWS authentication requires a valid Date or x-amz-date header")
    }

    // MARK: - RequestTimeTooSkewed

    @Test("RequestTimeTooSkewed: header form 15 minutes off, either way, with RequestTime, ServerTime and the skew")
    func skewed() throws {
        for offset: Int64 in [-901, 901] {
            let error = try #require(reject(Self.get(time: Self.now + offset)))
            #expect(error.code == .requestTimeTooSkewed)
            #expect(error.httpStatus == 403)
            #expect(error.detail("RequestTime") == TestSigner.amzDate(Self.now + offset))
            #expect(error.detail("ServerTime") == "2025-11-22T00:00:00Z")
            #expect(error.detail("MaxAllowedSkewMilliseconds") == "900000")
        }
        for offset: Int64 in [-900, 900] {
            _ = try Self.verifier.authenticate(Self.get(time: Self.now + offset), now: Self.now)
        }
    }

    // MARK: - AuthorizationHeaderMalformed

    @Test(
        "AuthorizationHeaderMalformed: broken or foreign credential scopes",
        arguments: [
            ("Credential=AKIDTEST/20251122/us-east-1/s3", "Credential is mal-formed"),
            ("Credential=/20251122/us-east-1/s3/aws4_request", "Credential is mal-formed"),
            ("Credential=AKIDTEST/2025112/us-east-1/s3/aws4_request", "Credential is mal-formed"),
            ("Credential=AKIDTEST/20251122/mars-1/s3/aws4_request", "the region 'mars-1' is wrong; expecting 'us-east-1'"),
            ("Credential=AKIDTEST/20251122/us-east-1/ec2/aws4_request", "incorrect service \"ec2\""),
            ("Credential=AKIDTEST/20251122/us-east-1/s3/aws5_request", "incorrect terminal \"aws5_request\""),
            ("Credential=AKIDTEST/20251121/us-east-1/s3/aws4_request", "Date is not the same as X-Amz-Date"),
        ]
    )
    func malformedCredential(credential: String, message: String) throws {
        let head = Self.get()
        let good = authorization(head)
        let bad = good.replacingOccurrences(
            of: #"Credential=[^,]*"#,
            with: credential,
            options: .regularExpression
        )
        let error = try #require(reject(replacing(head, header: "Authorization", with: bad)))
        #expect(error.code == .authorizationHeaderMalformed)
        #expect(error.httpStatus == 400)
        #expect(error.message.contains(message))
    }

    @Test("AuthorizationHeaderMalformed: missing components, unknown components, host not signed")
    func malformedComponents() throws {
        let head = Self.get()
        let good = authorization(head)
        let withoutSignature = String(good[..<good.range(of: ", Signature=")!.lowerBound])
        #expect(reject(replacing(head, header: "Authorization", with: withoutSignature))?.message.contains("missing Signature") == true)
        let extra = good + ", Foo=bar"
        #expect(reject(replacing(head, header: "Authorization", with: extra))?.code == .authorizationHeaderMalformed)
        let noHost = Self.get(headers: [("X-Custom", "1")])
        #expect(reject(noHost)?.message.contains("must include host") == true)
    }

    @Test("the Authorization header may separate components with or without spaces")
    func authorizationSpacing() throws {
        let head = Self.get()
        let compact = authorization(head).replacingOccurrences(of: ", ", with: ",")
        _ = try Self.verifier.authenticate(replacing(head, header: "Authorization", with: compact), now: Self.now)
        let wide = authorization(head).replacingOccurrences(of: ", ", with: " ,  ")
        _ = try Self.verifier.authenticate(replacing(head, header: "authorization", with: wide), now: Self.now)
    }

    @Test("a second served region is accepted")
    func secondRegion() throws {
        var signer = Self.signer
        signer.region = "eu-west-1"
        let auth = try Self.verifier.authenticate(Self.get(signer: signer), now: Self.now)
        #expect(auth.scope.region == "eu-west-1")
    }

    // MARK: - AuthorizationQueryParametersError

    @Test(
        "AuthorizationQueryParametersError: X-Amz-Expires outside 1…604800 or not a number",
        arguments: ["0", "604801", "-5", "abc", "", "1e3", "99999999999999999999999"]
    )
    func badExpires(_ value: String) throws {
        let head = Self.get(expires: 60)
        var uri = head.uri.replacingOccurrences(of: "X-Amz-Expires=60", with: "X-Amz-Expires=\(value)")
        uri = uri.replacingOccurrences(of: "X-Amz-Expires=60", with: "")
        let error = try #require(reject(S3RequestHead(method: "GET", uri: uri, headers: head.headers)))
        #expect(error.code == .authorizationQueryParametersError)
        #expect(error.httpStatus == 400)
    }

    @Test("AuthorizationQueryParametersError: a missing, repeated or foreign parameter")
    func badQueryParameters() throws {
        let head = Self.get(expires: 60)
        let missing = head.uri.replacingOccurrences(of: #"&X-Amz-Date=[^&]*"#, with: "", options: .regularExpression)
        #expect(reject(S3RequestHead(method: "GET", uri: missing, headers: head.headers))?.code == .authorizationQueryParametersError)
        let repeated = head.uri + "&X-Amz-Expires=60"
        #expect(reject(S3RequestHead(method: "GET", uri: repeated, headers: head.headers))?.code == .authorizationQueryParametersError)
        let algorithm = head.uri.replacingOccurrences(of: "AWS4-HMAC-SHA256", with: "AWS4-HMAC-SHA1")
        #expect(reject(S3RequestHead(method: "GET", uri: algorithm, headers: head.headers))?.message.contains("only supports") == true)
        var signer = Self.signer
        signer.region = "mars-1"
        let region = try #require(reject(Self.get(signer: signer, expires: 60)))
        #expect(region.code == .authorizationQueryParametersError)
        #expect(region.detail("Region") == "us-east-1")
    }

    // MARK: - MissingSecurityHeader / InvalidToken

    @Test("MissingSecurityHeader: temporary credentials without their session token")
    func missingSecurityToken() throws {
        let error = try #require(reject(Self.get(signer: TestSigner(accessKeyId: "AKIDTEMP", secret: "temp-secret"))))
        #expect(error.code == .missingSecurityHeader)
        #expect(error.httpStatus == 400)
    }

    @Test("InvalidToken: a wrong session token, or a token for a long-term key; the right token passes")
    func invalidToken() throws {
        var temp = TestSigner(accessKeyId: "AKIDTEMP", secret: "temp-secret")
        temp.sessionToken = "the-session-token"
        _ = try Self.verifier.authenticate(Self.get(signer: temp), now: Self.now)
        _ = try Self.verifier.authenticate(Self.get(signer: temp, expires: 60), now: Self.now)
        temp.sessionToken = "forged"
        #expect(reject(Self.get(signer: temp))?.code == .invalidToken)
        var longTerm = Self.signer
        longTerm.sessionToken = "anything"
        #expect(reject(Self.get(signer: longTerm, expires: 60))?.code == .invalidToken)
    }

    // MARK: - InvalidArgument / InvalidRequest / InvalidURI

    @Test("InvalidArgument: two auth mechanisms at once, or two Authorization headers")
    func twoMechanisms() throws {
        let presigned = Self.get(expires: 60)
        let header = Self.get()
        let both = S3RequestHead(method: "GET", uri: presigned.uri, headers: header.headers)
        let error = try #require(reject(both))
        #expect(error.code == .invalidArgument)
        #expect(error.message.hasPrefix("Only one auth mechanism allowed"))
        var twice = header
        twice.headers.append(("authorization", authorization(header)))
        #expect(reject(twice)?.code == .invalidArgument)
    }

    @Test("InvalidArgument: an x-amz-content-sha256 that is neither a hash nor a known literal")
    func badPayloadHash() throws {
        let head = Self.signer.sign(
            method: "PUT",
            path: "/bucket/key",
            headers: [("Host", "s3.local")],
            payloadHash: "not-a-hash",
            time: Self.now
        ).head
        let error = try #require(reject(head))
        #expect(error.code == .invalidArgument)
        #expect(error.detail("ArgumentName") == "x-amz-content-sha256")
    }

    @Test("InvalidRequest: header form without x-amz-content-sha256, an unknown scheme, and V2 when refused")
    func invalidRequest() throws {
        let head = replacing(Self.get(), header: "x-amz-content-sha256", with: nil)
        let error = try #require(reject(head))
        #expect(error.code == .invalidRequest)
        #expect(error.message.contains("x-amz-content-sha256"))
        let bearer = S3RequestHead(method: "GET", uri: "/b/k", headers: [("Host", "x"), ("Authorization", "Bearer abc")])
        #expect(reject(bearer)?.code == .invalidRequest)

        let refusing = SigV4Verifier(
            configuration: .init(acceptSignatureV2: false),
            credentials: InMemoryCredentialStore([Credential(accessKeyId: "AKIDTEST", secretAccessKey: "x")])
        )
        let v2 = S3RequestHead(method: "GET", uri: "/b/k", headers: [("Host", "x"), ("Authorization", "AWS AKIDTEST:c2ln")])
        let refused = try #require(reject(v2, verifier: refusing))
        #expect(refused.code == .invalidRequest)
        #expect(refused.message.contains("Please use AWS4-HMAC-SHA256"))
        let v2Query = S3RequestHead(method: "GET", uri: "/b/k?AWSAccessKeyId=AKIDTEST&Expires=1&Signature=x", headers: [])
        #expect(reject(v2Query, verifier: refusing)?.code == .invalidRequest)
    }

    @Test("InvalidURI: a malformed percent-escape in the path or the query", arguments: ["/b/k%zz", "/b/k%2", "/b/k?a=%G1"])
    func invalidURI(_ uri: String) throws {
        let head = Self.get()
        let error = try #require(reject(S3RequestHead(method: "GET", uri: uri, headers: head.headers)))
        #expect(error.code == .invalidURI)
        #expect(error.httpStatus == 400)
    }

    // MARK: - Content-Type binding

    @Test("a presigned PUT that signed Content-Type must carry exactly that Content-Type")
    func contentTypeBinding() throws {
        let signed = Self.signer.sign(
            method: "PUT",
            path: "/bucket/report.pdf",
            headers: [("Host", "s3.local"), ("Content-Type", "application/pdf")],
            time: Self.now,
            presignExpires: 900
        )
        let auth = try Self.verifier.authenticate(signed.head, now: Self.now)
        #expect(auth.contentTypeBound)
        #expect(auth.form == .presigned)

        let other = replacing(signed.head, header: "Content-Type", with: "text/html")
        #expect(reject(other)?.code == .signatureDoesNotMatch)
        let none = replacing(signed.head, header: "Content-Type", with: nil)
        #expect(reject(none)?.code == .signatureDoesNotMatch)
        let empty = replacing(signed.head, header: "Content-Type", with: "")
        #expect(reject(empty)?.code == .signatureDoesNotMatch)
    }

    @Test("without Content-Type among the signed headers, the request is not bound to one")
    func contentTypeUnbound() throws {
        let signed = Self.get(expires: 900)
        var head = signed
        head.headers.append(("Content-Type", "text/html"))
        let auth = try Self.verifier.authenticate(head, now: Self.now)
        #expect(!auth.contentTypeBound)
    }
}
