import Testing

@testable import Verifier

/// Minting presigned URLs: the published example, and the round trip through the verifier.
@Suite("Presigned URL minting")
struct PresignedURLTests {
    static let example = Credential(
        accessKeyId: "AKIAIOSFODNN7EXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    )

    @Test("the S3 API Reference's presigned GET example is minted byte for byte")
    func publishedExample() throws {
        let minted = try PresignedURL.make(
            .init(
                method: "GET",
                scheme: "https",
                host: "examplebucket.s3.amazonaws.com",
                rawPath: "/test.txt",
                expires: 86_400,
                region: "us-east-1"
            ),
            credential: Self.example,
            now: AmzTime.parseBasic("20130524T000000Z")!,
            signingKeys: SigningKeyCache()
        )
        #expect(
            minted.url
                == "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        )
        #expect(minted.signature == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    @Test(
        "minted URLs verify, with a session token and awkward keys; a changed Content-Type does not",
        arguments: ["plain.txt", "dir/a b+c=d&e~f%g.txt", "ünïcødé/文件.pdf", "trailing/"]
    )
    func roundTrip(key: String) throws {
        let credential = Credential(accessKeyId: "AKTOKEN", secretAccessKey: "s/e+c=", sessionToken: "tok/en+==")
        let now: Int64 = 1_770_681_600
        let path = PresignedURL.encodePath(bucket: "my.bucket-1", key: key)
        let minted = try PresignedURL.make(
            .init(
                method: "PUT",
                scheme: "http",
                host: "127.0.0.1:9000",
                rawPath: path,
                contentType: "image/png",
                expires: 300,
                region: "eu-west-1"
            ),
            credential: credential,
            now: now,
            signingKeys: SigningKeyCache()
        )
        #expect(minted.signedHeaders == ["content-type", "host"])
        let target = String(minted.url.dropFirst("http://127.0.0.1:9000".count))
        let verifier = SigV4Verifier(
            configuration: .init(regions: ["eu-west-1"]),
            credentials: InMemoryCredentialStore([credential])
        )
        let head = S3RequestHead(
            method: "PUT",
            uri: target,
            headers: [("Host", "127.0.0.1:9000"), ("Content-Type", "image/png")]
        )
        let auth = try verifier.authenticate(head, now: now + 300)
        #expect(auth.contentTypeBound)
        #expect(S3RequestHead(method: "", uri: target, headers: []).rawPath == path)

        let other = S3RequestHead(
            method: "PUT",
            uri: target,
            headers: [("Host", "127.0.0.1:9000"), ("Content-Type", "text/plain")]
        )
        #expect(throws: S3Error.self) { try verifier.authenticate(other, now: now) }
        #expect(throws: S3Error.self) { try verifier.authenticate(head, now: now + 301) }
    }
}
