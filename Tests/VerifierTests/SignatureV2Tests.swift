import Crypto
import Foundation
import Testing

@testable import Verifier

/// Legacy Signature Version 2: the S3 documentation's examples, requests signed by boto3, and the
/// same time, binding and error rules as V4.
@Suite("Signature Version 2")
struct SignatureV2Tests {
    static let docsCredential = Credential(
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    )
    static let verifier = SigV4Verifier(credentials: InMemoryCredentialStore([docsCredential]))

    /// A V2 signer written for the tests (Foundation, HMAC keyed afresh), for the error cases.
    static func sign(
        method: String = "GET",
        uri: String,
        headers: [(String, String)],
        expires: Int64? = nil,
        secret: String = docsCredential.secretAccessKey,
        accessKeyId: String = docsCredential.accessKeyId
    ) -> S3RequestHead {
        let value = { (name: String) in headers.first { $0.0.lowercased() == name }?.1 ?? "" }
        let amz = headers.filter { $0.0.lowercased().hasPrefix("x-amz-") }
            .map { "\($0.0.lowercased()):\($0.1)\n" }.sorted().joined()
        let dateLine = expires.map(String.init) ?? (headers.contains { $0.0.lowercased() == "x-amz-date" } ? "" : value("date"))
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        let stringToSign = "\(method)\n\(value("content-md5"))\n\(value("content-type"))\n\(dateLine)\n\(amz)\(path)"
        let mac = HMAC<Insecure.SHA1>.authenticationCode(
            for: Data(stringToSign.utf8),
            using: SymmetricKey(data: Data(secret.utf8))
        )
        let signature = Data(mac).base64EncodedString()
        if let expires {
            let encoded = signature.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let separator = uri.contains("?") ? "&" : "?"
            return S3RequestHead(
                method: method,
                uri: uri + separator + "AWSAccessKeyId=\(accessKeyId)&Expires=\(expires)&Signature=\(encoded)",
                headers: headers.map { (name: $0.0, value: $0.1) }
            )
        }
        return S3RequestHead(
            method: method,
            uri: uri,
            headers: headers.map { (name: $0.0, value: $0.1) } + [("Authorization", "AWS \(accessKeyId):\(signature)")]
        )
    }

    static let now: Int64 = 1_175_024_202  // Tue, 27 Mar 2007 19:36:42 GMT

    func reject(_ head: S3RequestHead, now: Int64 = now, verifier: SigV4Verifier = verifier) -> S3Error? {
        #expect(throws: S3Error.self) { try verifier.authenticate(head, now: now) }
    }

    // MARK: - The S3 documentation's examples

    @Test("the documented V2 GET (path-style form of johnsmith/photos/puppy.jpg) verifies")
    func docsHeaderExample() throws {
        let head = S3RequestHead(
            method: "GET",
            uri: "/johnsmith/photos/puppy.jpg",
            headers: [
                ("Host", "s3.amazonaws.com"), ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
                ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="),
            ]
        )
        let auth = try Self.verifier.authenticate(head, now: Self.now)
        #expect(auth.signatureVersion == .v2)
        #expect(auth.form == .header)
        #expect(auth.accessKeyId == "AKIAIOSFODNN7EXAMPLE")
        #expect(auth.contentTypeBound)
    }

    @Test("the documented V2 query-string GET verifies until its Expires, then has expired")
    func docsQueryExample() throws {
        let head = S3RequestHead(
            method: "GET",
            uri: "/johnsmith/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620",
            headers: [("Host", "s3.amazonaws.com")]
        )
        let auth = try Self.verifier.authenticate(head, now: Int64(1_175_139_620 - 3600))
        #expect(auth.form == .presigned)
        let expired = try #require(reject(head, now: Int64(1_175_139_621)))
        #expect(expired.code == .accessDenied)
        #expect(expired.message == "Request has expired")
        #expect(expired.detail("Expires") == "2007-03-29T03:40:20Z")
    }

    // MARK: - boto3

    /// The V2 script prints the same shape as the V4 one.
    typealias Output = Boto3CrossCheckTests.Output

    @Test(
        "requests and presigned URLs signed by boto3 with V2 verify; a flipped byte does not",
        .enabled(if: Boto3.available || Boto3.required),
        arguments: [7, 8] as [Int]
    )
    func boto3V2(seed: Int) throws {
        let script = Boto3.script.deletingLastPathComponent().appendingPathComponent("boto3-signed-requests-v2.py")
        let output = try JSONDecoder().decode(
            Output.self,
            from: try Boto3.runScript(script, arguments: ["--seed", String(seed), "--count", "120"])
        )
        let verifier = SigV4Verifier(
            credentials: InMemoryCredentialStore([
                Credential(accessKeyId: output.accessKeyId, secretAccessKey: output.secretAccessKey)
            ])
        )
        let wallClock = Int64(Date().timeIntervalSince1970)
        var operations: Set<String> = []
        for request in output.requests {
            operations.insert(request.operation)
            var head = S3RequestHead(
                method: request.method,
                uri: request.uri,
                headers: request.headers.map { (name: $0[0], value: $0[1]) }
            )
            let now = head.firstValue(of: "date").flatMap { AmzTime.parseHTTPDate($0.utf8[...]) } ?? wallClock
            do {
                let auth = try verifier.authenticate(head, now: now)
                #expect(auth.signatureVersion == .v2)
            } catch {
                Issue.record("\(request.operation) \(request.uri): \(error)\n\(error.detail("StringToSign") ?? "")")
                continue
            }
            if request.operation == "presign-put" {
                // V2 signs the Content-Type: a presigned PUT with another type is refused.
                head.headers = head.headers.map { $0.name == "Content-Type" ? ($0.name, "text/html") : $0 }
            } else {
                // Flip one byte of the path.
                var bytes = Array(head.uri.utf8)
                let i = bytes.firstIndex(of: UInt8(ascii: "/"))! + 2
                bytes[i] ^= 0x01
                head.uri = String(decoding: bytes, as: UTF8.self)
            }
            let error = #expect(throws: S3Error.self) { try verifier.authenticate(head, now: now) }
            #expect(error?.code == .signatureDoesNotMatch || error?.code == .invalidURI, "\(request.operation): \(String(describing: error))")
        }
        #expect(operations.count >= 6, "\(operations)")
    }

    // MARK: - Rules and errors

    @Test("a V2 header-signed request must be within the clock skew")
    func skew() throws {
        let date = "Tue, 27 Mar 2007 19:36:42 GMT"
        let head = Self.sign(uri: "/b/k", headers: [("Host", "s3.local"), ("Date", date)])
        _ = try Self.verifier.authenticate(head, now: Self.now + 900)
        let error = try #require(reject(head, now: Self.now + 901))
        #expect(error.code == .requestTimeTooSkewed)
        #expect(error.detail("RequestTime") == date)
    }

    @Test("x-amz-date replaces Date, and the Date line is then empty")
    func amzDate() throws {
        let head = Self.sign(
            uri: "/b/k",
            headers: [("Host", "s3.local"), ("x-amz-date", "Tue, 27 Mar 2007 19:36:42 GMT"), ("Date", "garbage")]
        )
        _ = try Self.verifier.authenticate(head, now: Self.now)
    }

    @Test("a V2 presigned URL may not reach more than 7 days ahead, and must not have expired")
    func presignedLimits() throws {
        _ = try Self.verifier.authenticate(Self.sign(uri: "/b/k", headers: [], expires: Self.now + 604_800), now: Self.now)
        let far = try #require(reject(Self.sign(uri: "/b/k", headers: [], expires: Self.now + 604_801)))
        #expect(far.code == .authorizationQueryParametersError)
        #expect(reject(Self.sign(uri: "/b/k", headers: [], expires: Self.now - 1))?.message == "Request has expired")
        let head = Self.sign(uri: "/b/k", headers: [], expires: Self.now + 60)
        let garbled = S3RequestHead(method: "GET", uri: head.uri.replacingOccurrences(of: "Expires=", with: "Expires=x"), headers: [])
        #expect(reject(garbled)?.code == .accessDenied)
        let missing = S3RequestHead(method: "GET", uri: "/b/k?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1", headers: [])
        #expect(reject(missing)?.code == .accessDenied)
    }

    @Test("a V2 presigned PUT is bound to its Content-Type")
    func contentTypeBinding() throws {
        let head = Self.sign(method: "PUT", uri: "/b/doc.pdf", headers: [("Content-Type", "application/pdf")], expires: Self.now + 900)
        _ = try Self.verifier.authenticate(head, now: Self.now)
        var other = head
        other.headers = [("Content-Type", "text/html")]
        #expect(reject(other)?.code == .signatureDoesNotMatch)
        other.headers = []
        #expect(reject(other)?.code == .signatureDoesNotMatch)
    }

    @Test("V2 errors: unknown key, wrong secret (with StringToSign and its bytes), malformed header")
    func errors() throws {
        let date = ("Date", "Tue, 27 Mar 2007 19:36:42 GMT")
        let unknown = Self.sign(uri: "/b/k", headers: [date], accessKeyId: "NOBODY")
        #expect(reject(unknown)?.code == .invalidAccessKeyId)
        let wrong = try #require(reject(Self.sign(uri: "/b/k?acl", headers: [date, ("x-amz-meta-a", "1")], secret: "nope")))
        #expect(wrong.code == .signatureDoesNotMatch)
        #expect(wrong.detail("StringToSign") == "GET\n\n\nTue, 27 Mar 2007 19:36:42 GMT\nx-amz-meta-a:1\n/b/k?acl")
        #expect(wrong.detail("StringToSignBytes")?.hasPrefix("47 45 54 0a") == true)
        let malformed = S3RequestHead(method: "GET", uri: "/b/k", headers: [date, ("Authorization", "AWS no-colon")])
        #expect(reject(malformed)?.code == .invalidArgument)
    }

    @Test("sub-resources enter the V2 canonical resource sorted, with decoded values; other parameters do not")
    func canonicalResource() {
        let sts = SigV4Verifier.v2StringToSign(
            method: "GET",
            headers: RequestHeaders([("X-Amz-Meta-B", " two "), ("x-amz-meta-a", "1"), ("x-amz-meta-b", "three")]),
            dateLine: "D",
            rawPath: "/b/a%20key+plus",
            rawQuery: "versionId=v%2B1&prefix=x&uploads&response-content-type=text%2Fplain&acl"
        )
        #expect(
            String(decoding: sts, as: UTF8.self)
                == "GET\n\n\nD\nx-amz-meta-a:1\nx-amz-meta-b:two,three\n/b/a%20key+plus?acl&response-content-type=text/plain&uploads&versionId=v+1"
        )
    }
}
