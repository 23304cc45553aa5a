import Crypto
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

@Suite("UpstreamHeadRewriter")
struct UpstreamHeadRewriterTests {
    let signer = TestSigner()
    let upstream = UpstreamEndpoint(host: "10.0.0.9", port: 9000)

    private func verified(_ method: HTTPMethod, _ uri: String, _ headers: [(name: String, value: String)]) throws -> (
        HTTPRequestHead, AuthenticatedRequest
    ) {
        let head = HTTPRequestHead(
            version: .http1_1,
            method: method,
            uri: uri,
            headers: HTTPHeaders(headers.map { ($0.name, $0.value) })
        )
        let auth = try signer.verifier.authenticate(
            S3RequestHead(method: method.rawValue, uri: uri, headers: headers),
            now: TestSigner.now
        )
        return (head, auth)
    }

    @Test("passthrough forwards method, raw target, Host and Authorization unchanged, minus hop-by-hop headers")
    func passthrough() throws {
        let uri = "/bucket/a%20b/c+d?versionId=x%2By&acl"
        var headers = signer.sign(method: "GET", uri: uri)
        headers += [
            ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1"), ("TE", "trailers"), ("Proxy-Authorization", "x"),
            ("Keep-Alive", "timeout=5"), ("Expect", "100-continue"),
        ]
        let (head, auth) = try verified(.GET, uri, headers)
        let out = try UpstreamHeadRewriter(mode: .passthrough, upstream: upstream).rewrite(
            head,
            auth: auth,
            framing: .none,
            now: TestSigner.now
        )
        #expect(out.method == .GET)
        #expect(out.uri == uri)
        #expect(out.headers["Host"] == ["s3.local"])
        #expect(out.headers["Authorization"] == head.headers["Authorization"])
        for gone in ["connection", "x-hop", "te", "proxy-authorization", "keep-alive", "expect"] {
            #expect(!out.headers.contains(name: gone), "\(gone) was forwarded")
        }
    }

    @Test("Connection cannot strip the authentication or framing headers")
    func connectionCannotStripProtected() throws {
        var headers = signer.sign(method: "PUT", uri: "/b/k", headers: [("Content-Length", "3")])
        headers.append(("Connection", "authorization, content-length, host"))
        let (head, auth) = try verified(.PUT, "/b/k", headers)
        let out = try UpstreamHeadRewriter(mode: .passthrough, upstream: upstream).rewrite(
            head,
            auth: auth,
            framing: .contentLength(3),
            now: TestSigner.now
        )
        #expect(out.headers.contains(name: "authorization"))
        #expect(out.headers["content-length"] == ["3"])
        #expect(out.headers.contains(name: "host"))
    }

    @Test("trusted strips the client's auth, names the key, and drops a spoofed identity header")
    func trusted() throws {
        var headers = signer.sign(method: "GET", uri: "/b/k")
        headers.append(("X-Sidecar-Access-Key", "root"))
        let (head, auth) = try verified(.GET, "/b/k", headers)
        let out = try UpstreamHeadRewriter(mode: .trusted, upstream: upstream).rewrite(
            head,
            auth: auth,
            framing: .none,
            now: TestSigner.now
        )
        #expect(!out.headers.contains(name: "authorization"))
        #expect(out.headers["X-Sidecar-Access-Key"] == [signer.accessKeyId])
        #expect(out.headers["Host"] == ["10.0.0.9:9000"])
        #expect(out.uri == "/b/k")
    }

    @Test("presigned auth parameters are dropped, every other query byte is kept")
    func presignedQueryStripped() throws {
        let uri = signer.presign(
            method: "GET",
            path: "/b/a%2Fb",
            extraQuery: "versionId=x%2By&response-content-type=text%2Fplain"
        )
        let (head, auth) = try verified(.GET, uri, [("Host", "s3.local")])
        let out = try UpstreamHeadRewriter(mode: .trusted, upstream: upstream).rewrite(
            head,
            auth: auth,
            framing: .none,
            now: TestSigner.now
        )
        #expect(out.uri == "/b/a%2Fb?versionId=x%2By&response-content-type=text%2Fplain")
        #expect(UpstreamHeadRewriter.removingAuthQueryParameters(from: "/k?X-Amz-Signature=1") == "/k")
        #expect(UpstreamHeadRewriter.removingAuthQueryParameters(from: "/k") == "/k")
        #expect(UpstreamHeadRewriter.removingAuthQueryParameters(from: "/k?") == "/k?")
        #expect(UpstreamHeadRewriter.removingAuthQueryParameters(from: "/k?a=1&&X-Amz-Date=2&b") == "/k?a=1&&b")
        #expect(
            UpstreamHeadRewriter.removingAuthQueryParameters(from: "/k?X%2DAmz-Signature=1&%58-Amz-Date=2&v=3")
                == "/k?v=3"
        )
        #expect(
            UpstreamHeadRewriter.removingAuthQueryParameters(from: "/k?x-amz-signature=1") == "/k?x-amz-signature=1"
        )
        #expect(
            UpstreamHeadRewriter.removingAuthQueryParameters(from: "/%E2%9C%93?X-Amz-Expires=5&X=1") == "/%E2%9C%93?X=1"
        )
        // A Signature Version 2 presigned URL carries its auth in other names; only they go, and only for V2.
        let v2 = "/b/k?AWSAccessKeyId=AK&Expires=1700000000&Signature=abc%2B%3D&response-content-type=text%2Fplain"
        #expect(UpstreamHeadRewriter.removingAuthQueryParameters(from: v2, version: .v2) == "/b/k?response-content-type=text%2Fplain")
        #expect(UpstreamHeadRewriter.removingAuthQueryParameters(from: v2, version: .v4) == v2)
    }

    @Test("resign produces a request the backend's key verifies, with the verified payload hash")
    func resign() throws {
        let body = Array("payload".utf8)
        let hash = TestSigner.sha256Hex(body)
        let uri = "/bucket/some%20key?tagging"
        let headers = signer.sign(
            method: "PUT",
            uri: uri,
            headers: [("Content-Length", "7"), ("Content-Type", "text/plain")],
            payloadHash: hash
        )
        let (head, auth) = try verified(.PUT, uri, headers)
        let backend = UpstreamCredentials(
            accessKeyId: "BACKENDKEY",
            secretAccessKey: "backend/secret",
            region: "us-east-1"
        )
        let later = TestSigner.now + 30
        let out = try UpstreamHeadRewriter(mode: .resign(backend), upstream: upstream).rewrite(
            head,
            auth: auth,
            framing: .contentLength(7),
            now: later
        )
        #expect(out.uri == uri)
        #expect(out.headers["Host"] == ["10.0.0.9:9000"])
        #expect(out.headers["x-amz-content-sha256"] == [hash])
        let backendVerifier = SigV4Verifier(
            credentials: InMemoryCredentialStore([
                Credential(accessKeyId: "BACKENDKEY", secretAccessKey: "backend/secret")
            ])
        )
        let result = try backendVerifier.authenticate(
            S3RequestHead(method: "PUT", uri: out.uri, headers: out.headers.map { ($0.name, $0.value) }),
            now: later
        )
        #expect(result.accessKeyId == "BACKENDKEY")
        #expect(result.payload == .sha256(Array(SHA256.hash(data: body))))
        #expect(result.signedHeaders.contains("content-type"))
    }

    @Test("resign of a presigned GET signs UNSIGNED-PAYLOAD without the client's query auth")
    func resignPresigned() throws {
        let uri = signer.presign(method: "GET", path: "/b/k")
        let (head, auth) = try verified(.GET, uri, [("Host", "s3.local")])
        let backend = UpstreamCredentials(accessKeyId: "BACKENDKEY", secretAccessKey: "s", region: "us-east-1")
        let out = try UpstreamHeadRewriter(mode: .resign(backend), upstream: upstream).rewrite(
            head,
            auth: auth,
            framing: .none,
            now: TestSigner.now
        )
        #expect(out.uri == "/b/k")
        let backendVerifier = SigV4Verifier(
            credentials: InMemoryCredentialStore([Credential(accessKeyId: "BACKENDKEY", secretAccessKey: "s")])
        )
        let result = try backendVerifier.authenticate(
            S3RequestHead(method: "GET", uri: out.uri, headers: out.headers.map { ($0.name, $0.value) }),
            now: TestSigner.now
        )
        #expect(result.payload == .unsigned)
        #expect(result.form == .header)
    }
}
