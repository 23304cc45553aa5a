import Foundation
import NIOCore
import Testing
import Verifier

@testable import Proxy

/// The presign API and CORS on the wire: the proxy on loopback in front of a recording upstream.
@Suite("Presign API and CORS on loopback", .serialized)
struct PresignAPIEndToEndTests {
    let signer = TestSigner()

    private func withProxy(
        mode: UpstreamMode,
        _ body: (ProxyServer, RecordingUpstream) async throws -> Void
    ) async throws {
        let upstream = try RecordingUpstream()
        defer { upstream.stop() }
        var configuration = ProxyConfiguration(
            listen: .init(host: "127.0.0.1", port: 0),
            upstream: UpstreamEndpoint(host: "127.0.0.1", port: upstream.port),
            mode: mode
        )
        configuration.cors = CORSConfiguration(allowedOrigins: ["https://app.example.com"])
        let credentials = InMemoryCredentialStore([
            Credential(accessKeyId: signer.accessKeyId, secretAccessKey: signer.secretAccessKey)
        ])
        let api = PresignAPI(
            configuration: .init(region: "us-east-1"),
            apiKeys: InMemoryAPIKeyStore([APIKey(apiKey: "the-api-key", accessKeyId: signer.accessKeyId)]),
            credentials: credentials,
            authorizer: AllowAllAuthorizer(),
            clock: { TestSigner.now * 1000 }
        )
        let server = try await ProxyServer.start(
            configuration: configuration,
            verifier: signer.verifier,
            clock: { TestSigner.now },
            presignAPI: api,
            logger: .disabled
        )
        do {
            try await body(server, upstream)
        } catch {
            try await server.close()
            throw error
        }
        try await server.close()
    }

    @Test("a minted URL is accepted by the proxy itself, and the PUT is forwarded with the signed Content-Type")
    func mintedURLPassesTheProxy() async throws {
        try await withProxy(mode: .trusted) { server, upstream in
            let client = try TestClient(port: server.port)
            let json = Array(#"{"key": "a b.pdf", "action": "upload", "contentType": "application/pdf"}"#.utf8)
            try client.send(
                TestClient.request(
                    "POST",
                    "/api/object-storage/buckets/f13/presign",
                    headers: [("Host", "x"), ("X-API-Key", "the-api-key"), ("Content-Length", String(json.count))],
                    body: json
                )
            )
            let minted = try #require(try client.readResponse())
            #expect(minted.status == 200)
            #expect(minted.header("content-type") == "application/json; charset=utf-8")
            #expect(upstream.records.isEmpty, "the API answers itself")
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(minted.body)) as? [String: Any])
            let url = try #require((envelope["data"] as? [String: Any])?["url"] as? String)
            #expect(url.hasPrefix("http://127.0.0.1:\(server.port)/f13/a%20b.pdf?"))
            let target = "/" + url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)[3]

            try client.send(
                TestClient.request(
                    "PUT",
                    target,
                    headers: [
                        ("Host", "127.0.0.1:\(server.port)"), ("Content-Type", "application/pdf"),
                        ("Content-Length", "3"),
                    ],
                    body: Array("pdf".utf8)
                )
            )
            let put = try #require(try client.readResponse())
            #expect(put.status == 200)
            let record = try #require(upstream.wait { !$0.isEmpty }.first)
            #expect(record.uri == "/f13/a%20b.pdf", "the auth parameters are stripped in trusted mode")
            #expect(record.header("x-sidecar-access-key") == signer.accessKeyId)

            let wrong = try TestClient(port: server.port)
            try wrong.send(
                TestClient.request(
                    "PUT",
                    target,
                    headers: [
                        ("Host", "127.0.0.1:\(server.port)"), ("Content-Type", "text/plain"), ("Content-Length", "3"),
                    ],
                    body: Array("txt".utf8)
                )
            )
            let refused = try #require(try wrong.readResponse())
            #expect(refused.status == 403)
            #expect(refused.text.contains("<Code>SignatureDoesNotMatch</Code>"))
            #expect(refused.text.contains("requires Content-Type &quot;application/pdf&quot;"))
        }
    }

    @Test("a listing goes upstream as ListObjectsV2 with the mode's identity; a non-XML answer is 502")
    func listingGoesUpstream() async throws {
        try await withProxy(mode: .trusted) { server, upstream in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "GET",
                    "/api/object-storage/buckets/f13/objects?prefix=a%2F&limit=5&cursor=abc",
                    headers: [("Host", "x"), ("X-API-Key", "the-api-key")]
                )
            )
            let response = try #require(try client.readResponse())
            #expect(response.status == 502)
            #expect(response.text.contains(#""code":"UPSTREAM_ERROR""#))
            let record = try #require(upstream.records.first)
            #expect(record.uri == "/f13?list-type=2&max-keys=5&prefix=a%2F&continuation-token=abc")
            #expect(record.header("x-sidecar-access-key") == signer.accessKeyId)
        }
    }

    @Test("passthrough: the listing is signed with the API key's own access key, and verifies upstream")
    func passthroughListingIsSigned() async throws {
        try await withProxy(mode: .passthrough) { server, upstream in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "GET",
                    "/api/object-storage/buckets/f13/objects?prefix=a%20b%2F",
                    headers: [("Host", "x"), ("X-API-Key", "the-api-key")]
                )
            )
            _ = try #require(try client.readResponse())
            let record = try #require(upstream.records.first)
            #expect(record.uri == "/f13?list-type=2&max-keys=100&prefix=a%20b%2F")
            let auth = try signer.verifier.authenticate(
                S3RequestHead(method: record.method, uri: record.uri, headers: record.headers),
                now: TestSigner.now
            )
            #expect(auth.accessKeyId == signer.accessKeyId)
            #expect(record.header("x-sidecar-access-key") == nil)
        }
    }

    @Test("a preflight is answered without auth for an allowed origin, refused for others; errors carry CORS")
    func preflight() async throws {
        try await withProxy(mode: .passthrough) { server, upstream in
            let client = try TestClient(port: server.port)
            let preflight: [(name: String, value: String)] = [
                ("Host", "x"), ("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "PUT"),
                ("Access-Control-Request-Headers", "content-type,x-amz-meta-a"),
            ]
            try client.send(TestClient.request("OPTIONS", "/f13/k", headers: preflight))
            let allowed = try #require(try client.readResponse())
            #expect(allowed.status == 204)
            #expect(allowed.header("access-control-allow-origin") == "https://app.example.com")
            #expect(allowed.header("access-control-allow-headers") == "content-type, x-amz-meta-a")

            var other = preflight
            other[1] = ("Origin", "https://evil.example.org")
            try client.send(TestClient.request("OPTIONS", "/f13/k", headers: other))
            let refused = try #require(try client.readResponse())
            #expect(refused.status == 403)
            #expect(refused.header("access-control-allow-origin") == nil)

            // The same connection goes on: an unsigned GET from the allowed origin gets S3's error, readable.
            try client.send(
                TestClient.request("GET", "/f13/k", headers: [("Host", "x"), ("Origin", "https://app.example.com")])
            )
            let error = try #require(try client.readResponse())
            #expect(error.status == 403)
            #expect(error.header("access-control-allow-origin") == "https://app.example.com")
            #expect(error.header("access-control-expose-headers")?.contains("ETag") == true)
            #expect(error.header("vary") == "Origin")
            #expect(upstream.records.isEmpty)
        }
    }
}
