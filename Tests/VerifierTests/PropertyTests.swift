import Foundation
import Testing

@testable import Verifier

/// Random requests signed by the independent test signer: every one verifies, and flipping any byte of
/// the method, path, query, a signed header value or the signature makes it fail with the right code.
@Suite("Verifier properties")
struct PropertyTests {
    static let now: Int64 = 1_790_000_000
    static let credential = Credential(accessKeyId: "AKIAPROPERTY", secretAccessKey: "pr0p/erty+secret=")
    static let verifier = SigV4Verifier(credentials: InMemoryCredentialStore([credential]))
    static let signer = TestSigner(accessKeyId: credential.accessKeyId, secret: credential.secretAccessKey)

    /// Characters keys are drawn from: the awkward ones S3 users actually have.
    static let keyAlphabet: [String] = [
        "a", "b", "Z", "0", "9", "-", "_", ".", "~", " ", "+", "=", "&", "%", "/", "//", "$", "!", "*", "'", "(",
        ")", ",", ";", ":", "@", "?", "#", "[", "]", "é", "ß", "ሴ", "😀", "中", "./", "../", "%2F", "\u{7F}",
    ]
    static let valueAlphabet: [String] = [
        "x", "Y", "7", "-", "_", ".", "~", " ", "+", "=", "&", "%", "/", "é", "😀", "*", "?", "#", ",",
    ]

    static func randomString(_ alphabet: [String], length: ClosedRange<Int>, using rng: inout SplitMix64) -> String {
        (0..<Int.random(in: length, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined()
    }

    struct Sample {
        var signed: TestSigner.Signed
        var signedHeaderNames: [String]
    }

    static func sample(seed: UInt64) -> Sample {
        var rng = SplitMix64(seed: seed)
        let key = randomString(keyAlphabet, length: 1...24, using: &rng)
        let path = "/bucket-\(Int.random(in: 0...9, using: &rng))/" + key
        let query = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
            (
                randomString(valueAlphabet, length: 1...8, using: &rng),
                Bool.random(using: &rng) ? "" : randomString(valueAlphabet, length: 1...12, using: &rng)
            )
        }
        var headers: [(String, String)] = [("Host", "s3.example.test:\(Int.random(in: 1000...9999, using: &rng))")]
        if Bool.random(using: &rng) { headers.append(("Content-Type", "text/plain; charset=utf-8")) }
        if Bool.random(using: &rng) { headers.append(("x-amz-meta-note", "  two  spaces  inside ")) }
        if Bool.random(using: &rng) { headers.append(("Range", "bytes=0-\(Int.random(in: 1...999, using: &rng))")) }
        let presign = Bool.random(using: &rng)
        let method = ["GET", "PUT", "HEAD", "DELETE", "POST"].randomElement(using: &rng)!
        let signed = signer.sign(
            method: method,
            path: path,
            query: query,
            headers: headers,
            payloadHash: Bool.random(using: &rng)
                ? "UNSIGNED-PAYLOAD"
                : TestSigner.hex((0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }),
            time: now - Int64.random(in: 0...600, using: &rng),
            presignExpires: presign ? 3600 : nil,
            pathStyle: Bool.random(using: &rng) ? .encodeAll : .rawSubDelims,
            plusForSpaceInQuery: Bool.random(using: &rng)
        )
        return Sample(signed: signed, signedHeaderNames: headers.map { $0.0.lowercased() })
    }

    static let seeds: [UInt64] = Array(1...300)

    @Test("every request signed by an independent signer verifies", arguments: seeds)
    func signedRequestsVerify(seed: UInt64) throws {
        let sample = Self.sample(seed: seed)
        do {
            let auth = try Self.verifier.authenticate(sample.signed.head, now: Self.now)
            #expect(auth.signature == sample.signed.signature)
        } catch {
            Issue.record("seed \(seed): \(sample.signed.head.uri) → \(error)\n\(error.detail("CanonicalRequest") ?? "")\nexpected:\n\(sample.signed.canonicalRequest)")
        }
    }

    static let flipSeeds: [UInt64] = Array(1000...1039)

    @Test("flipping any byte of method, path, query, signed header values or signature fails", arguments: flipSeeds)
    func flippedBytesFail(seed: UInt64) throws {
        let sample = Self.sample(seed: seed)
        let head = sample.signed.head
        let expected: Set<S3Error.Code> = [.signatureDoesNotMatch, .invalidURI]

        func expectFailure(_ mutated: S3RequestHead, _ what: String, allowed: Set<S3Error.Code> = expected) {
            do {
                _ = try Self.verifier.authenticate(mutated, now: Self.now)
                Issue.record("seed \(seed): flipping \(what) still verified: \(mutated.uri)")
            } catch {
                #expect(allowed.contains(error.code), "seed \(seed): flipping \(what) gave \(error)")
            }
        }

        for i in 0..<head.method.utf8.count {
            var mutated = head
            mutated.method = flip(head.method, at: i)
            expectFailure(mutated, "method byte \(i)")
        }

        let query = head.rawQuery
        let isPresigned = query.contains("X-Amz-Signature=")
        for i in 0..<head.uri.utf8.count {
            var mutated = head
            mutated.uri = flip(head.uri, at: i)
            // Flipping inside the presigned auth parameters can break their syntax instead of the signature.
            let allowed = isPresigned
                ? expected.union([.authorizationQueryParametersError, .accessDenied, .invalidArgument, .invalidAccessKeyId])
                : expected
            expectFailure(mutated, "uri byte \(i)", allowed: allowed)
        }

        for (index, header) in head.headers.enumerated()
        where sample.signedHeaderNames.contains(header.name.lowercased()) {
            for i in 0..<header.value.utf8.count {
                var mutated = head
                mutated.headers[index].value = flip(header.value, at: i)
                // Whitespace folding makes a space next to a space, or at the ends, carry no meaning.
                if folded(mutated.headers[index].value) == folded(header.value) { continue }
                expectFailure(mutated, "header \(header.name) byte \(i)")
            }
        }

        if !isPresigned {
            let authIndex = head.headers.firstIndex { $0.name == "Authorization" }!
            let value = head.headers[authIndex].value
            let signatureStart = value.utf8.count - 64
            for i in signatureStart..<value.utf8.count {
                var mutated = head
                mutated.headers[authIndex].value = flip(value, at: i)
                expectFailure(mutated, "signature byte \(i - signatureStart)")
            }
        }
    }

    /// XOR 0x01 never swaps letter case, so it always changes what a byte means.
    func flip(_ s: String, at index: Int) -> String {
        var bytes = Array(s.utf8)
        bytes[index] ^= 0x01
        return String(decoding: bytes, as: UTF8.self)
    }

    func folded(_ s: String) -> String {
        s.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    @Test("the same key in the path, encoded differently on the wire, verifies every time")
    func equivalentWireEncodings() throws {
        for style in [TestSigner.PathStyle.encodeAll, .rawSubDelims] {
            let signed = Self.signer.sign(
                method: "GET",
                path: "/bucket/a+b=c$d!e/f g/~h",
                headers: [("Host", "s3.local")],
                time: Self.now,
                pathStyle: style
            )
            _ = try Self.verifier.authenticate(signed.head, now: Self.now)
        }
    }

    @Test("an escaped slash is part of the key, not a separator, and paths are never normalized")
    func pathIsNeverNormalized() throws {
        func canonicalURI(_ path: String) throws -> String {
            let built = try CanonicalRequest.build(
                method: "GET",
                rawPath: Substring(path),
                rawQuery: "",
                headers: [],
                signedHeaders: [],
                payloadHash: "UNSIGNED-PAYLOAD"
            )
            return String(built.text.split(separator: "\n", omittingEmptySubsequences: false)[1])
        }
        #expect(try canonicalURI("/b/a%2Fb") == "/b/a%2Fb")
        #expect(try canonicalURI("/b/a%2fb") == "/b/a%2Fb")
        #expect(try canonicalURI("/b/a/b") == "/b/a/b")
        #expect(try canonicalURI("/b//./../k") == "/b//./../k")
        #expect(try canonicalURI("/b/test$file.text") == "/b/test%24file.text")
        #expect(try canonicalURI("/b/test%24file.text") == "/b/test%24file.text")
        #expect(try canonicalURI("/b/%7Euser") == "/b/~user")
        #expect(try canonicalURI("/b/a+b") == "/b/a%2Bb")
        #expect(try canonicalURI("") == "/")
    }

    @Test("query pairs sort by encoded name then value; empty values and repeated names are kept")
    func canonicalQueryOrder() throws {
        let built = try CanonicalRequest.build(
            method: "GET",
            rawPath: "/",
            rawQuery: "b=2&a=z&a=&A=1&lifecycle&c=x+y&d=%7e",
            headers: [],
            signedHeaders: [],
            payloadHash: "UNSIGNED-PAYLOAD"
        )
        let line = built.text.split(separator: "\n", omittingEmptySubsequences: false)[2]
        #expect(line == "A=1&a=&a=z&b=2&c=x%20y&d=~&lifecycle=")
    }

    @Test("header values are trimmed, inner spaces folded, repeated headers joined by commas")
    func canonicalHeaders() throws {
        let built = try CanonicalRequest.build(
            method: "GET",
            rawPath: "/",
            rawQuery: "",
            headers: [("HOST", " h "), ("X-Amz-Meta-A", "  one   two  "), ("x-amz-meta-a", "three"), ("X-Other", "unsigned")],
            signedHeaders: ["host", "x-amz-meta-a"],
            payloadHash: "UNSIGNED-PAYLOAD"
        )
        #expect(built.text == "GET\n/\n\nhost:h\nx-amz-meta-a:one two,three\n\nhost;x-amz-meta-a\nUNSIGNED-PAYLOAD")
    }
}

extension S3Error.Code: CustomTestStringConvertible {
    public var testDescription: String { s3Code }
}
