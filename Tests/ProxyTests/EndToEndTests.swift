import Crypto
import Foundation
import NIOCore
import Testing
import Verifier

@testable import Proxy

/// The proxy on loopback port 0 in front of a recording upstream, driven by a plain-socket client.
@Suite("End to end on loopback", .serialized)
struct EndToEndTests {
    let signer = TestSigner()

    private func withProxy(
        mode: UpstreamMode = .passthrough,
        upstreamPort: Int? = nil,
        dropSecondRequest: Bool = false,
        configure: (inout ProxyConfiguration) -> Void = { _ in },
        _ body: (ProxyServer, RecordingUpstream) async throws -> Void
    ) async throws {
        try await withLoopbackProxy(
            signer: signer,
            mode: mode,
            upstreamPort: upstreamPort,
            dropSecondRequest: dropSecondRequest,
            configure: configure,
            body
        )
    }

    private func host(_ server: ProxyServer) -> String { "127.0.0.1:\(server.port)" }

    @Test("a signed GET is forwarded with its exact path and query bytes")
    func getForwardedExactly() async throws {
        try await withProxy { server, upstream in
            let uri = "/bucket/dir//a%20b+c~d%2Fe/%E2%9C%93?versionId=x%2By&list-type=2&prefix="
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request("GET", uri, headers: signer.sign(method: "GET", uri: uri, host: host(server)))
            )
            let response = try #require(try client.readResponse())
            #expect(response.status == 200)
            #expect(response.text == "hello " + uri.split(separator: "?")[0])
            #expect(response.header("x-amz-request-id")?.count == 16)
            #expect(response.header("x-upstream") == "recording")
            let record = try #require(upstream.records.first)
            #expect(record.uri == uri)
            #expect(record.header("authorization") != nil, "passthrough keeps Authorization")
            #expect(record.header("host") == host(server), "passthrough keeps the signed Host")
        }
    }

    @Test("a PUT with a matching hash arrives whole and complete")
    func putForwarded() async throws {
        try await withProxy { server, upstream in
            let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let headers = signer.sign(
                method: "PUT",
                uri: "/bucket/obj",
                host: host(server),
                headers: [("Content-Length", String(body.count))],
                payloadHash: TestSigner.sha256Hex(body)
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/bucket/obj", headers: headers, body: body))
            let response = try #require(try client.readResponse())
            #expect(response.status == 200)
            let record = try #require(upstream.records.first)
            #expect(record.completed)
            #expect(record.body == body)
        }
    }

    @Test("a wrong secret gets 403 SignatureDoesNotMatch and the upstream sees nothing")
    func wrongSecret() async throws {
        try await withProxy { server, upstream in
            let body = Array("data".utf8)
            let headers = signer.sign(
                method: "PUT",
                uri: "/bucket/obj",
                host: host(server),
                headers: [("Content-Length", "4")],
                payloadHash: TestSigner.sha256Hex(body),
                secret: "not-the-secret"
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/bucket/obj", headers: headers, body: body))
            let response = try #require(try client.readResponse())
            #expect(response.status == 403)
            #expect(response.text.contains("<Code>SignatureDoesNotMatch</Code>"))
            #expect(response.header("x-amz-request-id") != nil)
            #expect(response.header("content-type") == "application/xml")
            #expect(upstream.records.isEmpty)
            #expect(upstream.connections == 0)
        }
    }

    @Test("a body that does not match its signed hash is aborted upstream before its last byte")
    func hashMismatchAborts() async throws {
        try await withProxy { server, upstream in
            let body = [UInt8](repeating: 7, count: 300_000)
            var claimed = body
            claimed[claimed.count - 1] = 8
            let headers = signer.sign(
                method: "PUT",
                uri: "/bucket/obj",
                host: host(server),
                headers: [("Content-Length", String(body.count))],
                payloadHash: TestSigner.sha256Hex(claimed)
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/bucket/obj", headers: headers, body: body))
            let response = try #require(try client.readResponse())
            #expect(response.status == 400)
            #expect(response.text.contains("<Code>XAmzContentSHA256Mismatch</Code>"))
            let records = upstream.wait { $0.first?.connectionClosed == true }
            let record = try #require(records.first)
            #expect(!record.completed, "the upstream received the whole body")
            #expect(record.body.count < body.count)
            #expect(record.connectionClosed)
        }
    }

    @Test("a dead upstream gives a quick S3-style 502")
    func deadUpstream() async throws {
        let (fd, freePort) = try RawSocket.listen()
        close(fd)
        try await withProxy(upstreamPort: freePort) { server, _ in
            let started = Date()
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            let response = try #require(try client.readResponse())
            #expect(response.status == 502)
            #expect(response.text.contains("<Code>BadGateway</Code>"))
            #expect(Date().timeIntervalSince(started) < 3)
        }
    }

    @Test("two pipelined requests on one connection are answered in order over one kept-alive connection")
    func pipelining() async throws {
        try await withProxy { server, upstream in
            let client = try TestClient(port: server.port)
            let first = TestClient.request(
                "GET",
                "/b/one",
                headers: signer.sign(method: "GET", uri: "/b/one", host: host(server))
            )
            let second = TestClient.request(
                "GET",
                "/b/two",
                headers: signer.sign(method: "GET", uri: "/b/two", host: host(server))
            )
            try client.send(first + second)
            let a = try #require(try client.readResponse())
            let b = try #require(try client.readResponse())
            #expect(a.text == "hello /b/one")
            #expect(b.text == "hello /b/two")
            #expect(a.header("x-amz-request-id") != b.header("x-amz-request-id"))
            // Sequential keep-alive requests reuse the pooled upstream connection.
            let third = TestClient.request(
                "GET",
                "/b/three",
                headers: signer.sign(method: "GET", uri: "/b/three", host: host(server))
            )
            try client.send(third)
            #expect(try client.readResponse()?.text == "hello /b/three")
            #expect(upstream.records.map(\.uri) == ["/b/one", "/b/two", "/b/three"])
            #expect(upstream.connections == 1)
        }
    }

    @Test("a rejected request in a keep-alive connection leaves the next one working")
    func rejectionThenSuccess() async throws {
        try await withProxy { server, upstream in
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("GET", "/b/k", headers: [("Host", host(server))]))
            #expect(try client.readResponse()?.status == 403)
            try client.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            #expect(try client.readResponse()?.status == 200)
            #expect(upstream.records.count == 1)
        }
    }

    @Test("Expect: 100-continue gets 100 after authentication, then the final answer")
    func expectContinue() async throws {
        try await withProxy { server, upstream in
            let body = Array("0123456789".utf8)
            let headers =
                signer.sign(
                    method: "PUT",
                    uri: "/b/k",
                    host: host(server),
                    headers: [("Content-Length", "10")],
                    payloadHash: TestSigner.sha256Hex(body)
                ) + [("Expect", "100-continue")]
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/b/k", headers: headers))
            let interim = try #require(try client.readResponse())
            #expect(interim.status == 100, "\(interim.status) \(interim.text)")
            try client.send(body)
            #expect(try client.readResponse()?.status == 200)
            #expect(upstream.records.first?.body == body)
            #expect(upstream.records.first?.header("expect") == nil)
        }
    }

    @Test("a large download and upload stream through with backpressure")
    func largeBodies() async throws {
        try await withProxy { server, upstream in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "GET",
                    "/b/big",
                    headers: signer.sign(method: "GET", uri: "/b/big", host: host(server))
                )
            )
            let download = try #require(try client.readResponse())
            #expect(download.body.count == upstream.bigResponse)

            let body = [UInt8](repeating: 0x5A, count: 16 << 20)
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/upload",
                host: host(server),
                headers: [("Content-Length", String(body.count))],
                payloadHash: TestSigner.sha256Hex(body)
            )
            try client.send(TestClient.request("PUT", "/b/upload", headers: headers, body: body))
            #expect(try client.readResponse()?.status == 200)
            let record = try #require(upstream.records.last)
            #expect(record.completed && record.body.count == body.count)
        }
    }

    @Test("trusted mode strips presigned auth and names the key upstream")
    func trustedPresigned() async throws {
        try await withProxy(mode: .trusted) { server, upstream in
            let uri = signer.presign(method: "GET", path: "/b/k", extraQuery: "versionId=7", host: host(server))
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request("GET", uri, headers: [("Host", host(server))])
            )
            let response = try #require(try client.readResponse())
            #expect(response.status == 200, "\(response.text)")
            let record = try #require(upstream.records.first)
            #expect(record.uri == "/b/k?versionId=7")
            #expect(record.header("x-sidecar-access-key") == signer.accessKeyId)
            #expect(record.headers.filter { $0.name.lowercased() == "x-sidecar-access-key" }.count == 1)
            #expect(record.header("host") == "127.0.0.1:\(upstream.port)")
        }
    }

    @Test("resign mode sends the backend a request signed with the backend's key, same path and query")
    func resignSignsWithBackendKey() async throws {
        let backend = UpstreamCredentials(
            accessKeyId: "BACKEND",
            secretAccessKey: "backend-secret",
            region: "us-east-1"
        )
        try await withProxy(mode: .resign(backend)) { server, upstream in
            let body = Array("abc".utf8)
            let uri = "/bucket/k%20ey?tagging"
            let headers = signer.sign(
                method: "PUT",
                uri: uri,
                host: host(server),
                headers: [("Content-Length", "3")],
                payloadHash: TestSigner.sha256Hex(body)
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", uri, headers: headers, body: body))
            #expect(try client.readResponse()?.status == 200)
            let record = try #require(upstream.records.first)
            #expect(record.uri == uri)
            let backendVerifier = SigV4Verifier(
                credentials: InMemoryCredentialStore([
                    Credential(accessKeyId: "BACKEND", secretAccessKey: "backend-secret")
                ])
            )
            let auth = try backendVerifier.authenticate(
                S3RequestHead(method: record.method, uri: record.uri, headers: record.headers),
                now: TestSigner.now
            )
            #expect(auth.accessKeyId == "BACKEND")
            #expect(auth.payload == .sha256(Array(SHA256.hash(data: body))))
        }
    }

    @Test("a body cut short by a half-close gets IncompleteBody and the upstream request stays incomplete")
    func incompleteBody() async throws {
        try await withProxy { server, upstream in
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/k",
                host: host(server),
                headers: [("Content-Length", "100")]
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/b/k", headers: headers, body: Array(repeating: 1, count: 40)))
            _ = upstream.wait { $0.first?.body.count == 40 }
            shutdown(client.stream.fd, Int32(SHUT_WR))
            let response = try #require(try client.readResponse())
            #expect(response.status == 400)
            #expect(response.text.contains("<Code>IncompleteBody</Code>"))
            let records = upstream.wait { $0.first?.connectionClosed == true }
            #expect(records.first?.completed == false)
        }
    }

    @Test("a stalled request body times out with RequestTimeout and is aborted upstream")
    func stalledBody() async throws {
        try await withProxy(configure: { $0.timeouts.clientIdle = .milliseconds(300) }) { server, upstream in
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/k",
                host: host(server),
                headers: [("Content-Length", "100")]
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/b/k", headers: headers, body: Array(repeating: 1, count: 10)))
            let response = try #require(try client.readResponse())
            #expect(response.status == 400)
            #expect(response.text.contains("<Code>RequestTimeout</Code>"))
            #expect(client.stream.peerClosed())
            let records = upstream.wait { $0.first?.connectionClosed == true }
            #expect(records.first?.completed == false)
        }
    }

    @Test("an upstream that accepts but never answers gives 503 after the read timeout")
    func silentUpstream() async throws {
        let (fd, silentPort) = try RawSocket.listen()  // never accepts: the kernel completes the handshake
        defer { close(fd) }
        try await withProxy(upstreamPort: silentPort, configure: { $0.timeouts.upstreamRead = .milliseconds(300) }) {
            server,
            _ in
            let started = Date()
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            let response = try #require(try client.readResponse())
            #expect(response.status == 503)
            #expect(response.text.contains("<Code>ServiceUnavailable</Code>"))
            #expect(Date().timeIntervalSince(started) < 3)
        }
    }

    @Test("a HEAD request is relayed without a body and the connection stays usable")
    func headRequest() async throws {
        try await withProxy { server, _ in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "HEAD",
                    "/b/k",
                    headers: signer.sign(method: "HEAD", uri: "/b/k", host: host(server))
                )
            )
            let head = try #require(try client.readResponse(isHEAD: true))
            #expect(head.status == 200)
            #expect(head.header("content-length") == "0")
            try client.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            #expect(try client.readResponse()?.text == "hello /b/k")
        }
    }

    @Test("with the pool full and no room to wait, a request gets 503 SlowDown")
    func poolExhausted() async throws {
        try await withProxy(configure: {
            $0.tuning.eventLoopThreads = 1
            $0.pool = .init(maxConnectionsPerEventLoop: 1, maxWaitersPerEventLoop: 0)
        }) { server, upstream in
            // The first request holds the only upstream connection: its body is not finished.
            let busy = try TestClient(port: server.port)
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/slow",
                host: host(server),
                headers: [("Content-Length", "10")]
            )
            try busy.send(TestClient.request("PUT", "/b/slow", headers: headers, body: [1, 2, 3]))
            _ = upstream.wait { !$0.isEmpty }

            let other = try TestClient(port: server.port)
            try other.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            let response = try #require(try other.readResponse())
            #expect(response.status == 503)
            #expect(response.text.contains("<Code>SlowDown</Code>"))
        }
    }

    @Test("a request waiting for a pooled connection gets it when the busy one is released")
    func poolWaiterServed() async throws {
        try await withProxy(configure: {
            $0.tuning.eventLoopThreads = 1
            $0.pool = .init(maxConnectionsPerEventLoop: 1, maxWaitersPerEventLoop: 4)
        }) { server, upstream in
            let busy = try TestClient(port: server.port)
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/slow",
                host: host(server),
                headers: [("Content-Length", "4")]
            )
            try busy.send(TestClient.request("PUT", "/b/slow", headers: headers, body: [1, 2]))
            _ = upstream.wait { !$0.isEmpty }

            let waiting = try TestClient(port: server.port)
            try waiting.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            try busy.send([3, 4])
            #expect(try busy.readResponse()?.status == 200)
            #expect(try waiting.readResponse()?.text == "hello /b/k")
            #expect(upstream.connections == 1)
        }
    }

    @Test("a waiter that gets no connection in time gets 503 SlowDown")
    func poolWaitTimeout() async throws {
        try await withProxy(configure: {
            $0.tuning.eventLoopThreads = 1
            $0.pool = .init(maxConnectionsPerEventLoop: 1, maxWaitersPerEventLoop: 4)
            $0.timeouts.upstreamPoolWait = .milliseconds(200)
        }) { server, upstream in
            let busy = try TestClient(port: server.port)
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/slow",
                host: host(server),
                headers: [("Content-Length", "4")]
            )
            try busy.send(TestClient.request("PUT", "/b/slow", headers: headers, body: [1, 2]))
            _ = upstream.wait { !$0.isEmpty }

            let waiting = try TestClient(port: server.port)
            try waiting.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            #expect(try waiting.readResponse()?.status == 503)
        }
    }

    @Test("a body-less request on a pooled connection the upstream dropped is retried once on a fresh one")
    func staleConnectionRetried() async throws {
        try await withProxy(dropSecondRequest: true, configure: { $0.tuning.eventLoopThreads = 1 }) {
            server,
            upstream in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "GET",
                    "/b/one",
                    headers: signer.sign(method: "GET", uri: "/b/one", host: host(server))
                )
            )
            #expect(try client.readResponse()?.status == 200)
            try client.send(
                TestClient.request(
                    "GET",
                    "/b/two",
                    headers: signer.sign(method: "GET", uri: "/b/two", host: host(server))
                )
            )
            let second = try #require(try client.readResponse())
            #expect(second.status == 200)
            #expect(second.text == "hello /b/two")
            #expect(upstream.connections == 2)
        }
    }

    @Test("a request with a body on a dropped pooled connection is not replayed: 502")
    func staleConnectionWithBodyNotRetried() async throws {
        try await withProxy(dropSecondRequest: true, configure: { $0.tuning.eventLoopThreads = 1 }) {
            server,
            upstream in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "GET",
                    "/b/one",
                    headers: signer.sign(method: "GET", uri: "/b/one", host: host(server))
                )
            )
            #expect(try client.readResponse()?.status == 200)
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/k",
                host: host(server),
                headers: [("Content-Length", "2")]
            )
            try client.send(TestClient.request("PUT", "/b/k", headers: headers, body: [1, 2]))
            #expect(try client.readResponse()?.status == 502)
            #expect(upstream.connections == 1)
        }
    }

    @Test("a client that half-closes after a complete request still gets its response, then EOF")
    func halfCloseAfterRequest() async throws {
        try await withProxy { server, _ in
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request("GET", "/b/k", headers: signer.sign(method: "GET", uri: "/b/k", host: host(server)))
            )
            shutdown(client.stream.fd, Int32(SHUT_WR))
            let response = try #require(try client.readResponse())
            #expect(response.status == 200)
            #expect(client.stream.peerClosed())
        }
    }

    @Test("a refused upload without Expect still reads its error reply, not a connection reset")
    func refusedUploadGetsReply() async throws {
        try await withProxy { server, upstream in
            let body = [UInt8](repeating: 1, count: 8 << 20)
            let headers = signer.sign(
                method: "PUT",
                uri: "/b/k",
                host: host(server),
                headers: [("Content-Length", String(body.count))],
                secret: "wrong"
            )
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", "/b/k", headers: headers, body: body))
            let response = try #require(try client.readResponse())
            #expect(response.status == 403)
            #expect(response.header("connection") == "close")
            #expect(response.text.contains("<Code>SignatureDoesNotMatch</Code>"))
            #expect(upstream.records.isEmpty)
        }
    }
}
