import Foundation
import NIOCore
import Testing
import Verifier

@testable import Proxy

#if canImport(Glibc)
    import Glibc
#endif

/// ARCHITECTURE.md rule 6, the pure checks: what the sidecar refuses to forward whatever the signature says.
@Suite("Forwarding rules")
struct ForwardingRulesTests {
    private func head(_ method: String, _ uri: String, _ headers: [(String, String)] = []) -> S3RequestHead {
        S3RequestHead(method: method, uri: uri, headers: headers.map { (name: $0.0, value: $0.1) })
    }

    @Test("only S3's methods pass; everything else is MethodNotAllowed", arguments: [
        "TRACE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "CONNECT", "OPTIONS", "PATCH",
        "get", "QUERY",
    ])
    func methodsRefused(method: String) {
        #expect {
            try ForwardingRules.checkHead(head(method, "/b/k"), hasBody: false)
        } throws: { error in
            (error as? S3Error)?.code == .methodNotAllowed
        }
    }

    @Test("GET, HEAD, PUT, POST and DELETE pass")
    func methodsAllowed() throws {
        for method in ["GET", "HEAD", "PUT", "POST", "DELETE"] {
            try ForwardingRules.checkHead(head(method, "/b/k?x=1"), hasBody: method == "PUT" || method == "POST")
        }
    }

    @Test("a request target with a byte a URI may not hold literally is InvalidURI", arguments: [
        "/b/k|x", "/b/{k}", "/b/k\"", "/b/k\\x", "/b/a^b", "/b/a`b", "/b/<k>", "/b/k#frag", "/b/a b", "/b/\u{7F}",
        "/b/caf\u{E9}", "b/k", "*", "example.com:443", "http://example.com/b/k", "",
    ])
    func invalidTargets(uri: String) {
        #expect(!ForwardingRules.isOriginForm(uri))
    }

    @Test("what SDKs send passes: escapes, sub-delims, colons, brackets, empty query values")
    func validTargets() {
        for uri in [
            "/", "/b/k", "/b/dir//a%20b+c~d%2Fe/%E2%9C%93?versionId=x%2By&list-type=2&prefix=",
            "/b/k!$&'()*,;=:@", "/b/[x]", "/b?delete", "/b/k?partNumber=1&uploadId=a.b_c-d~e",
        ] {
            #expect(ForwardingRules.isOriginForm(uri), "\(uri)")
        }
    }

    @Test("a client's X-Sidecar-* header is refused, any spelling")
    func sidecarHeadersRefused() {
        for name in ["X-Sidecar-Access-Key", "x-sidecar-access-key", "X-SIDECAR-Anything"] {
            #expect(throws: S3Error.self) {
                try ForwardingRules.checkHead(head("GET", "/b/k", [(name, "admin")]), hasBody: false)
            }
        }
        #expect(throws: Never.self) {
            try ForwardingRules.checkHead(head("GET", "/b/k", [("X-Sidecarish", "1")]), hasBody: false)
        }
    }

    @Test("two Host headers are refused, whatever their values")
    func duplicateHost() {
        #expect(throws: S3Error.self) {
            try ForwardingRules.checkHead(head("GET", "/b/k", [("Host", "a"), ("host", "b")]), hasBody: false)
        }
        #expect(throws: Never.self) {
            try ForwardingRules.checkHead(head("GET", "/b/k", [("Host", "a")]), hasBody: false)
        }
    }

    @Test("a body on GET, HEAD or DELETE is refused; POST and PUT keep theirs")
    func bodies() throws {
        for method in ["GET", "HEAD", "DELETE"] {
            #expect(throws: S3Error.self) { try ForwardingRules.checkHead(head(method, "/b/k"), hasBody: true) }
            try ForwardingRules.checkHead(head(method, "/b/k"), hasBody: false)
        }
        try ForwardingRules.checkHead(head("POST", "/b?delete"), hasBody: true)
        try ForwardingRules.checkHead(head("PUT", "/b/k"), hasBody: true)
    }

    @Test("Connection may not nominate a signed header; unsigned ones are the hop's own")
    func connectionNominations() throws {
        let signed: Set<String> = ["host", "content-type", "x-amz-meta-owner"]
        let refused = head("PUT", "/b/k", [("Connection", "keep-alive, X-Amz-Meta-Owner ")])
        #expect {
            try ForwardingRules.checkSigned(refused, signed: signed)
        } throws: { error in
            let error = error as! S3Error
            return error.code == .invalidRequest && error.message.contains("x-amz-meta-owner")
        }
        try ForwardingRules.checkSigned(head("PUT", "/b/k", [("Connection", "keep-alive, x-trace")]), signed: signed)
        // TE is hop-by-hop by definition and must be named in Connection: a signed one is not being removed.
        try ForwardingRules.checkSigned(head("GET", "/b/k", [("TE", "trailers"), ("Connection", "TE")]), signed: ["te"])
        #expect(throws: S3Error.self) {
            try ForwardingRules.checkSigned(head("GET", "/b/k", [("Upgrade", "h2c")]), signed: ["host", "upgrade"])
        }
    }
}

/// The same rules on the wire, in every upstream mode, asserting what the upstream received (nothing, for
/// a refusal) and not only the status. Raw sockets on both sides.
@Suite("Forwarding rules end to end", .serialized)
struct ForwardingRulesEndToEndTests {
    let signer = TestSigner()

    private func host(_ server: ProxyServer) -> String { "127.0.0.1:\(server.port)" }

    /// What a presign API's signer binds on an upload URL: create-only, encrypted, locked, owned, typed.
    static let boundHeaders: [(String, String)] = [
        ("Content-Type", "application/pdf"),
        ("If-None-Match", "*"),
        ("x-amz-server-side-encryption", "AES256"),
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-meta-owner", "alice"),
    ]

    @Test("a presigned PUT's signed headers reach the upstream in every mode", arguments: everyUpstreamMode)
    func signedHeadersForwarded(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            let uri = signer.presign(method: "PUT", path: "/b/report.pdf", host: host(server), signing: Self.boundHeaders)
            let client = try TestClient(port: server.port)
            let headers = [("Host", host(server)), ("Content-Length", "3")] + Self.boundHeaders
            try client.send(TestClient.request("PUT", uri, headers: headers.map { (name: $0.0, value: $0.1) }, body: [1, 2, 3]))
            let response = try #require(try client.readResponse())
            #expect(response.status == 200, "\(response.text)")
            let record = try #require(upstream.records.first)
            for (name, value) in Self.boundHeaders {
                #expect(record.header(name) == value, "\(name) in \(mode.name)")
            }
        }
    }

    @Test(
        "Connection nominating signed headers is refused with InvalidRequest and nothing is forwarded",
        arguments: everyUpstreamMode
    )
    func connectionCannotStripSignedHeaders(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            let uri = signer.presign(method: "PUT", path: "/b/report.pdf", host: host(server), signing: Self.boundHeaders)
            let nominated = "Content-Type, If-None-Match, x-amz-server-side-encryption, x-amz-object-lock-mode, "
                + "x-amz-meta-owner"
            let headers =
                [("Host", host(server)), ("Content-Length", "3"), ("Connection", nominated)] + Self.boundHeaders
            let client = try TestClient(port: server.port)
            try client.send(TestClient.request("PUT", uri, headers: headers.map { (name: $0.0, value: $0.1) }, body: [1, 2, 3]))
            let response = try #require(try client.readResponse())
            #expect(response.status == 400)
            #expect(response.text.contains("<Code>InvalidRequest</Code>"))
            #expect(response.text.contains("content-type"), "the error names the header: \(response.text)")
            #expect(upstream.records.isEmpty)
            #expect(upstream.connections == 0)
        }
    }

    @Test("a signed hop-by-hop header goes on; an unsigned one nominated by Connection does not")
    func signedHopByHopKept() async throws {
        for mode in everyUpstreamMode {
            try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
                let headers = signer.sign(
                    method: "GET",
                    uri: "/b/k",
                    host: host(server),
                    headers: [("TE", "trailers")]
                ) + [("Connection", "TE, X-Hop"), ("X-Hop", "1")]
                let client = try TestClient(port: server.port)
                try client.send(TestClient.request("GET", "/b/k", headers: headers))
                #expect(try client.readResponse()?.status == 200)
                let record = try #require(upstream.records.first)
                #expect(record.header("te") == "trailers", "signed TE kept in \(mode.name)")
                #expect(record.header("x-hop") == nil, "unsigned nominated header removed in \(mode.name)")
            }
        }
    }

    @Test("a signed Upgrade is refused; an unsigned one never reaches the upstream", arguments: everyUpstreamMode)
    func upgrade(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            let client = try TestClient(port: server.port)
            let signedUpgrade = signer.sign(
                method: "GET",
                uri: "/b/k",
                host: host(server),
                headers: [("Upgrade", "websocket"), ("Connection", "Upgrade")]
            )
            try client.send(TestClient.request("GET", "/b/k", headers: signedUpgrade))
            let refused = try #require(try client.readResponse())
            #expect(refused.status == 400)
            #expect(refused.text.contains("<Code>InvalidRequest</Code>"))
            // NIO's parser reads nothing more after a request that asks to upgrade: the connection ends.
            #expect(refused.header("connection")?.lowercased() == "close")
            #expect(client.stream.peerClosed())
            #expect(upstream.records.isEmpty)

            // curl --http2 over http: Upgrade: h2c, unsigned. Served as HTTP/1.1, without the upgrade.
            let h2c =
                signer.sign(method: "GET", uri: "/b/k", host: host(server)) + [
                    ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                    ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
                ]
            let second = try TestClient(port: server.port)
            try second.send(TestClient.request("GET", "/b/k", headers: h2c))
            let served = try #require(try second.readResponse())
            #expect(served.status == 200)
            #expect(served.header("connection")?.lowercased() == "close")
            #expect(second.stream.peerClosed())
            let record = try #require(upstream.records.first)
            #expect(record.header("upgrade") == nil)
            #expect(record.header("http2-settings") == nil)
        }
    }

    @Test("methods S3 does not have get 405 MethodNotAllowed with Allow, in every mode", arguments: everyUpstreamMode)
    func methodNotAllowed(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            let client = try TestClient(port: server.port)
            for method in ["TRACE", "PROPFIND", "MOVE", "COPY", "OPTIONS", "PATCH"] {
                var headers = signer.sign(
                    method: method,
                    uri: "/b/k",
                    host: host(server),
                    headers: [("Destination", "http://\(host(server))/secret/k")]
                )
                headers.append(("Content-Length", "0"))
                try client.send(TestClient.request(method, "/b/k", headers: headers))
                let response = try #require(try client.readResponse())
                #expect(response.status == 405, "\(method)")
                #expect(response.text.contains("<Code>MethodNotAllowed</Code>"))
                #expect(response.header("allow") == "GET, HEAD, PUT, POST, DELETE")
            }
            #expect(upstream.records.isEmpty)
            #expect(upstream.connections == 0)
        }
    }

    @Test("CONNECT in authority form gets a complete reply and the connection closes at once")
    func connectAuthorityForm() async throws {
        try await withLoopbackProxy(signer: signer) { server, upstream in
            let client = try TestClient(port: server.port)
            let started = Date()
            try client.send(Array("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".utf8))
            let response = try #require(try client.readResponse())
            #expect(response.status == 405)
            #expect(response.header("connection")?.lowercased() == "close")
            #expect(client.stream.peerClosed())
            #expect(Date().timeIntervalSince(started) < 3, "answered and closed, not left to the idle timeout")
            #expect(upstream.connections == 0)
        }
    }

    @Test("a body on GET, HEAD or DELETE is refused before anything is forwarded", arguments: everyUpstreamMode)
    func bodiesRefused(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            let smuggled = Array("GET /secret/k HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
            for (method, framing) in [
                ("GET", "length"), ("GET", "chunked"), ("HEAD", "length"), ("DELETE", "length"), ("DELETE", "chunked"),
            ] {
                var headers = signer.sign(method: method, uri: "/b/k", host: host(server))
                var body = smuggled
                if framing == "length" {
                    headers.append(("Content-Length", String(smuggled.count)))
                } else {
                    headers.append(("Transfer-Encoding", "chunked"))
                    body = Array(String(smuggled.count, radix: 16).utf8) + [13, 10] + smuggled + Array("\r\n0\r\n\r\n".utf8)
                }
                let client = try TestClient(port: server.port)
                try client.send(TestClient.request(method, "/b/k", headers: headers, body: body))
                let response = try #require(try client.readResponse(isHEAD: method == "HEAD"))
                #expect(response.status == 400, "\(method) \(framing)")
                if method != "HEAD" { #expect(response.text.contains("<Code>InvalidRequest</Code>")) }
            }
            #expect(upstream.records.isEmpty)

            // An empty body is no body: DELETE with Content-Length: 0 goes through, and so does DeleteObjects.
            let client = try TestClient(port: server.port)
            try client.send(
                TestClient.request(
                    "DELETE",
                    "/b/k",
                    headers: signer.sign(method: "DELETE", uri: "/b/k", host: host(server)) + [("Content-Length", "0")]
                )
            )
            #expect(try client.readResponse()?.status == 200)
            let xml = Array("<Delete><Object><Key>k</Key></Object></Delete>".utf8)
            try client.send(
                TestClient.request(
                    "POST",
                    "/b?delete",
                    headers: signer.sign(method: "POST", uri: "/b?delete", host: host(server))
                        + [("Content-Length", String(xml.count))],
                    body: xml
                )
            )
            #expect(try client.readResponse()?.status == 200)
            #expect(upstream.records.map(\.method) == ["DELETE", "POST"])
            #expect(upstream.records.last?.body == xml)
        }
    }

    @Test("a signed target with a byte a URI may not hold is InvalidURI, not a 502", arguments: everyUpstreamMode)
    func rawCharactersInTarget(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            for uri in ["/b/k|x", "/b/{k}", "/b/a^b", "/b/a`b", "/b/k\\x", "/b/k\"q", "/b/<k>"] {
                let client = try TestClient(port: server.port)
                try client.send(TestClient.request("GET", uri, headers: signer.sign(method: "GET", uri: uri, host: host(server))))
                let response = try #require(try client.readResponse(), "\(uri)")
                #expect(response.status == 400, "\(uri): \(response.text)")
                #expect(response.text.contains("<Code>InvalidURI</Code>"), "\(uri)")
            }
            #expect(upstream.records.isEmpty)
            #expect(upstream.connections == 0)
        }
    }

    @Test("a client's X-Sidecar-* header is refused in every mode, signed or not", arguments: everyUpstreamMode)
    func sidecarHeaders(mode: UpstreamMode) async throws {
        try await withLoopbackProxy(signer: signer, mode: mode) { server, upstream in
            let client = try TestClient(port: server.port)
            let unsigned = signer.sign(method: "GET", uri: "/b/k", host: host(server)) + [("X-Sidecar-Access-Key", "admin")]
            try client.send(TestClient.request("GET", "/b/k", headers: unsigned))
            let first = try #require(try client.readResponse())
            #expect(first.status == 400)
            #expect(first.text.contains("X-Sidecar-Access-Key"))
            let signed = signer.sign(method: "GET", uri: "/b/k", host: host(server), headers: [("x-sidecar-role", "admin")])
            try client.send(TestClient.request("GET", "/b/k", headers: signed))
            #expect(try client.readResponse()?.status == 400)
            #expect(upstream.records.isEmpty)
        }
    }

    @Test("an upstream's 101 or other interim reply is a 502; its connection is never used again")
    func interimRepliesCloseTheConnection() async throws {
        let upstream = try InterimReplyUpstream()
        defer { upstream.stop() }
        try await withLoopbackProxy(signer: signer, upstreamPort: upstream.port) { server, _ in
            for path in ["/b/switch", "/b/early"] {
                let client = try TestClient(port: server.port)
                let headers = signer.sign(
                    method: "GET",
                    uri: path,
                    host: host(server)
                )
                let started = Date()
                try client.send(TestClient.request("GET", path, headers: headers))
                let failed = try #require(try client.readResponse())
                #expect(failed.status == 502, "\(path)")
                #expect(failed.text.contains("<Code>BadGateway</Code>"))
                #expect(Date().timeIntervalSince(started) < 3)

                // The next request (a PUT) gets a fresh upstream connection, not the switched one.
                let body = Array("data".utf8)
                let put = signer.sign(
                    method: "PUT",
                    uri: "/b/next",
                    host: host(server),
                    headers: [("Content-Length", "4")],
                    payloadHash: TestSigner.sha256Hex(body)
                )
                try client.send(TestClient.request("PUT", "/b/next", headers: put, body: body))
                #expect(try client.readResponse()?.status == 200)
            }
            #expect(upstream.requestsOnSwitchedConnections == 0, "a request went into a connection left in another protocol")
            #expect(upstream.records.map(\.path) == ["/b/switch", "/b/next", "/b/early", "/b/next"])
        }
    }
}

/// An upstream that answers `/b/switch` with `101 Switching Protocols` and `/b/early` with `103 Early Hints`
/// (then 200), and everything else with 200; it counts the requests that arrive on a connection after it
/// switched it (what a backend speaking h2c would execute, while the sidecar's client waits).
final class InterimReplyUpstream: @unchecked Sendable {
    // @unchecked: `records` and `switchedRequests` are only touched under `lock`.
    struct Record {
        var connection: Int
        var path: String
    }

    let port: Int
    private let listenFD: Int32
    private let lock = NSLock()
    private var _records: [Record] = []
    private var switchedRequests = 0

    init() throws {
        (listenFD, port) = try RawSocket.listen()
        let fd = listenFD
        Thread.detachNewThread { [self] in
            var connection = 0
            while true {
                let conn = accept(fd, nil, nil)
                if conn < 0 { return }
                connection += 1
                let id = connection
                Thread.detachNewThread { [self] in serve(conn, id: id) }
            }
        }
    }

    var records: [Record] { lock.withLock { _records } }
    var requestsOnSwitchedConnections: Int { lock.withLock { switchedRequests } }

    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
    }

    private func serve(_ fd: Int32, id: Int) {
        defer { close(fd) }
        let stream = HTTPStream(fd: fd)
        var switched = false
        while let lines = try? stream.readHead(), let requestLine = lines.first {
            let parts = requestLine.split(separator: " ")
            guard parts.count == 3 else { return }
            let path = String(parts[1])
            let length = lines.dropFirst().compactMap { line -> Int? in
                let pair = line.split(separator: ":", maxSplits: 1)
                guard pair.count == 2, pair[0].lowercased() == "content-length" else { return nil }
                return Int(pair[1].trimmingCharacters(in: .whitespaces))
            }.first ?? 0
            if length > 0 { _ = try? stream.readExactly(length) }
            lock.withLock {
                if switched { switchedRequests += 1 } else { _records.append(Record(connection: id, path: path)) }
            }
            if switched { continue }
            var reply = ""
            if path == "/b/switch" {
                switched = true
                reply = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
            } else {
                if path == "/b/early" { reply = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" }
                reply += "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            }
            guard (try? RawSocket.sendAll(fd, Array(reply.utf8))) != nil else { return }
        }
    }
}
