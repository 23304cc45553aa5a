import Testing

@testable import Verifier

/// A key in rotation accepts signatures made with its current or its previous secret, and nothing else;
/// the signing key handed on (for chunk signatures) is the one that matched.
@Suite("Secret rotation")
struct SecretRotationTests {
    static let now: Int64 = 1_790_000_000
    static let rotating = Credential(
        accessKeyId: "AKIAROTATING",
        secretAccessKey: "new/Secret+Key==",
        previousSecretAccessKey: "old/Secret+Key=="
    )
    static let verifier = SigV4Verifier(credentials: InMemoryCredentialStore([rotating]))

    static func head(secret: String, presigned: Bool) -> S3RequestHead {
        TestSigner(accessKeyId: rotating.accessKeyId, secret: secret).sign(
            method: "GET",
            path: "/bucket/key",
            headers: [("Host", "s3.example.test")],
            time: now,
            presignExpires: presigned ? 600 : nil
        ).head
    }

    @Test("current and previous secrets both verify, in header and presigned form", arguments: [false, true])
    func bothSecretsVerify(presigned: Bool) throws {
        for secret in [Self.rotating.secretAccessKey, Self.rotating.previousSecretAccessKey!] {
            let auth = try Self.verifier.authenticate(Self.head(secret: secret, presigned: presigned), now: Self.now)
            #expect(auth.accessKeyId == Self.rotating.accessKeyId)
            let expected = SigningKey(secretAccessKey: secret, date: "20260921", region: "us-east-1", service: "s3")
            let probe = Array("chunk-string-to-sign".utf8)
            #expect(
                auth.signingKey.signatureHex(probe) == expected.signatureHex(probe),
                "the chunk signing key must come from the secret that signed"
            )
        }
    }

    @Test("a third secret is refused with SignatureDoesNotMatch")
    func otherSecretFails() {
        #expect(throws: S3Error.self) {
            try Self.verifier.authenticate(Self.head(secret: "neither/of+them==", presigned: false), now: Self.now)
        }
        do {
            _ = try Self.verifier.authenticate(Self.head(secret: "neither/of+them==", presigned: true), now: Self.now)
        } catch {
            #expect(error.code == .signatureDoesNotMatch)
        }
    }

    @Test("without a previous secret, the old one no longer verifies once rotation ends")
    func rotationEnds() {
        let done = SigV4Verifier(
            credentials: InMemoryCredentialStore([
                Credential(accessKeyId: Self.rotating.accessKeyId, secretAccessKey: Self.rotating.secretAccessKey)
            ])
        )
        #expect(throws: S3Error.self) {
            try done.authenticate(Self.head(secret: Self.rotating.previousSecretAccessKey!, presigned: false), now: Self.now)
        }
    }
}
