import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import Verifier

@testable import Proxy

@Suite("nginx auth_request endpoint verdicts")
struct AuthRequestEndpointTests {
    let signer = TestSigner()

    func endpoint(
        requireUnsignedPayload: Bool = false,
        authorizer: any RequestAuthorizer = AllowAllAuthorizer()
    ) -> AuthRequestEndpoint {
        AuthRequestEndpoint(
            verifier: signer.verifier,
            authorizer: authorizer,
            configuration: .init(requireUnsignedPayload: requireUnsignedPayload),
            clock: { TestSigner.now }
        )
    }

    /// What nginx sends: the client's headers (Host included), X-Original-*, and its own Connection.
    func subrequest(
        method: String,
        uri: String,
        clientHeaders: [(name: String, value: String)],
        contentLength: String? = nil
    ) -> [(name: String, value: String)] {
        var headers = clientHeaders
        headers.append(("X-Original-Method", method))
        headers.append(("X-Original-URI", uri))
        if let contentLength { headers.append(("X-Original-Content-Length", contentLength)) }
        headers.append(("Connection", "close"))
        return headers
    }

    @Test("a valid header-signed GET gets 200 with the access key and the request id")
    func validHeaderSigned() {
        let uri = "/bucket/a%20b.txt?versionId=1"
        let response = endpoint().respond(
            to: subrequest(method: "GET", uri: uri, clientHeaders: signer.sign(method: "GET", uri: uri)),
            requestId: "REQ1"
        )
        #expect(response.status == 200)
        #expect(response.header("X-Sidecar-Access-Key") == signer.accessKeyId)
        #expect(response.header("X-Sidecar-Auth-Form") == "header")
        #expect(response.header("X-Amz-Request-Id") == "REQ1")
        #expect(response.header("X-S3-Error-Code") == nil)
    }

    @Test("a valid presigned GET gets 200")
    func validPresigned() {
        let uri = signer.presign(method: "GET", path: "/bucket/key")
        let response = endpoint().respond(
            to: subrequest(method: "GET", uri: uri, clientHeaders: [("Host", "s3.local")]),
            requestId: "R"
        )
        #expect(response.status == 200)
        #expect(response.header("X-Sidecar-Auth-Form") == "presigned")
    }

    @Test("a tampered path is 403 SignatureDoesNotMatch, with S3's status, message and one-line XML body")
    func tampered() throws {
        let uri = signer.presign(method: "GET", path: "/bucket/a.txt")
        let response = endpoint().respond(
            to: subrequest(
                method: "GET",
                uri: uri.replacingOccurrences(of: "/a.txt", with: "/b.txt"),
                clientHeaders: [("Host", "s3.local")]
            ),
            requestId: "REQ2"
        )
        #expect(response.status == 403)
        #expect(response.header("X-S3-Error-Code") == "SignatureDoesNotMatch")
        #expect(response.header("X-S3-Error-Status") == "403")
        #expect(response.header("X-S3-Error-Message")?.hasPrefix("The request signature we calculated") == true)
        #expect(response.header("X-Amz-Request-Id") == "REQ2")
        let body = try #require(response.header("X-S3-Error-Body"))
        #expect(!body.contains("\n") && !body.contains("\r"))
        #expect(body.contains("<Code>SignatureDoesNotMatch</Code>"))
        #expect(body.contains("<Resource>/bucket/b.txt</Resource>"))
        #expect(body.contains("<RequestId>REQ2</RequestId>"))
        // Still well-formed XML once on one line.
        let document = try XMLDocument(xmlString: body)
        #expect(document.rootElement()?.elements(forName: "Code").first?.stringValue == "SignatureDoesNotMatch")
        #expect(
            document.rootElement()?.elements(forName: "CanonicalRequest").first?.stringValue?.contains("\n") == true
        )
    }

    @Test("the method nginx saw is the one verified: a GET signature does not pass as a DELETE")
    func methodFromHeader() {
        let uri = "/bucket/key"
        let response = endpoint().respond(
            to: subrequest(method: "DELETE", uri: uri, clientHeaders: signer.sign(method: "GET", uri: uri)),
            requestId: "R"
        )
        #expect(response.status == 403)
        #expect(response.header("X-S3-Error-Code") == "SignatureDoesNotMatch")
    }

    @Test("no credentials at all is 401, still carrying S3's AccessDenied and 403")
    func anonymous() {
        let response = endpoint().respond(
            to: subrequest(method: "GET", uri: "/bucket/key", clientHeaders: [("Host", "s3.local")]),
            requestId: "R"
        )
        #expect(response.status == 401)
        #expect(response.header("X-S3-Error-Code") == "AccessDenied")
        #expect(response.header("X-S3-Error-Status") == "403")
    }

    @Test("a 400-class verdict is answered 403, the real code and 400 in the headers")
    func badRequestMappedTo403() throws {
        let uri = "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=bogus&X-Amz-Date=20260102T030405Z"
            + "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
        let response = endpoint().respond(
            to: subrequest(method: "GET", uri: uri, clientHeaders: [("Host", "s3.local")]),
            requestId: "R"
        )
        #expect(response.status == 403)
        #expect(response.header("X-S3-Error-Status") == "400")
        #expect(response.header("X-S3-Error-Code") == "AuthorizationQueryParametersError")
        let body = try #require(response.header("X-S3-Error-Body"))
        #expect(body.contains("<Code>AuthorizationQueryParametersError</Code>"))
    }

    @Test("a request outside the key's policy is 403 AccessDenied")
    func policyDenied() {
        let authorizer = AccessPolicyAuthorizer(policies: [
            signer.accessKeyId: AccessPolicy(grants: [.init(bucket: "bucket", prefix: "public/", actions: [.read])])
        ])
        let allowed = "/bucket/public/a"
        let denied = "/bucket/private/a"
        let ok = endpoint(authorizer: authorizer).respond(
            to: subrequest(method: "GET", uri: allowed, clientHeaders: signer.sign(method: "GET", uri: allowed)),
            requestId: "R"
        )
        #expect(ok.status == 200)
        let refused = endpoint(authorizer: authorizer).respond(
            to: subrequest(method: "GET", uri: denied, clientHeaders: signer.sign(method: "GET", uri: denied)),
            requestId: "R"
        )
        #expect(refused.status == 403)
        #expect(refused.header("X-S3-Error-Code") == "AccessDenied")
        #expect(refused.header("X-S3-Error-Status") == "403")
    }

    @Test("an expired signature is 403 RequestTimeTooSkewed")
    func skewed() {
        let uri = "/bucket/key"
        let headers = signer.sign(method: "GET", uri: uri, now: TestSigner.now - 3600)
        let response = endpoint().respond(to: subrequest(method: "GET", uri: uri, clientHeaders: headers), requestId: "R")
        #expect(response.status == 403)
        #expect(response.header("X-S3-Error-Code") == "RequestTimeTooSkewed")
    }

    @Test("Content-Type binding: a signed Content-Type cannot be changed")
    func contentTypeBound() {
        let uri = "/bucket/key"
        var headers = signer.sign(
            method: "PUT",
            uri: uri,
            headers: [("Content-Type", "text/plain")]
        )
        headers = headers.map { $0.name == "Content-Type" ? ($0.name, "text/html") : $0 }
        let response = endpoint().respond(
            to: subrequest(method: "PUT", uri: uri, clientHeaders: headers, contentLength: "5"),
            requestId: "R"
        )
        #expect(response.status == 403)
        #expect(response.header("X-S3-Error-Code") == "SignatureDoesNotMatch")
    }

    @Test("a body-less request's signed hash is checked against the empty body")
    func emptyBodyHash() {
        let uri = "/bucket/key"
        let empty = TestSigner.sha256Hex([])
        let good = endpoint().respond(
            to: subrequest(method: "GET", uri: uri, clientHeaders: signer.sign(method: "GET", uri: uri, payloadHash: empty)),
            requestId: "R"
        )
        #expect(good.status == 200)
        let other = TestSigner.sha256Hex(Array("x".utf8))
        let bad = endpoint().respond(
            to: subrequest(method: "GET", uri: uri, clientHeaders: signer.sign(method: "GET", uri: uri, payloadHash: other)),
            requestId: "R"
        )
        #expect(bad.status == 403)
        #expect(bad.header("X-S3-Error-Code") == "XAmzContentSHA256Mismatch")
        #expect(bad.header("X-S3-Error-Status") == "400")
    }

    @Test("with requireUnsignedPayload, a body under a signed hash is refused; UNSIGNED-PAYLOAD passes")
    func requireUnsignedPayload() {
        let uri = "/bucket/key"
        let hash = TestSigner.sha256Hex(Array("hello".utf8))
        let signedBody = signer.sign(method: "PUT", uri: uri, payloadHash: hash)
        let lenient = endpoint().respond(
            to: subrequest(method: "PUT", uri: uri, clientHeaders: signedBody, contentLength: "5"),
            requestId: "R"
        )
        #expect(lenient.status == 200, "without the option the backend checks the hash")
        let strict = endpoint(requireUnsignedPayload: true).respond(
            to: subrequest(method: "PUT", uri: uri, clientHeaders: signedBody, contentLength: "5"),
            requestId: "R"
        )
        #expect(strict.status == 403)
        #expect(strict.header("X-S3-Error-Code") == "AccessDenied")
        // Unknown length (no X-Original-Content-Length) on a PUT is not "empty".
        let unknown = endpoint(requireUnsignedPayload: true).respond(
            to: subrequest(method: "PUT", uri: uri, clientHeaders: signer.sign(method: "PUT", uri: uri, payloadHash: TestSigner.sha256Hex([]))),
            requestId: "R"
        )
        #expect(unknown.status == 403)
        let unsigned = endpoint(requireUnsignedPayload: true).respond(
            to: subrequest(method: "PUT", uri: uri, clientHeaders: signer.sign(method: "PUT", uri: uri), contentLength: "5"),
            requestId: "R"
        )
        #expect(unsigned.status == 200)
    }

    @Test("a subrequest without X-Original-URI is refused loudly as a configuration error")
    func missingOriginal() {
        let response = endpoint().respond(to: [("Host", "s3.local"), ("X-Original-Method", "GET")], requestId: "R")
        #expect(response.status == 403)
        #expect(response.header("X-S3-Error-Code") == "InternalError")
        #expect(response.header("X-S3-Error-Status") == "500")
    }

    @Test("the subrequest's own Content-Length is not the client's; X-Original-Content-Length is")
    func framingFromOriginal() {
        let uri = "/bucket/key"
        // Content-Length signed by the client.
        let headers = signer.sign(method: "PUT", uri: uri, headers: [("Content-Length", "5")])
        var sub = subrequest(method: "PUT", uri: uri, clientHeaders: headers.filter { $0.name != "Content-Length" }, contentLength: "5")
        sub.append(("Content-Length", "0"))
        #expect(endpoint().respond(to: sub, requestId: "R").status == 200)
    }

    @Test("the body header drops its diagnostics when too long for one header")
    func oversizedBody() throws {
        let long = String(repeating: "a", count: 8000)
        let uri = "/bucket/\(long)"
        let headers = signer.sign(method: "GET", uri: uri, secret: "wrong")
        let response = endpoint().respond(to: subrequest(method: "GET", uri: uri, clientHeaders: headers), requestId: "R")
        let body = try #require(response.header("X-S3-Error-Body"))
        #expect(!body.contains("<CanonicalRequest>"))
        #expect(body.contains("<Code>SignatureDoesNotMatch</Code>"))
    }

    @Test("each verdict is one auth_request log line: the path and key, never the query or signature")
    func verdictLogLines() throws {
        let log = CapturedLog()
        let endpoint = AuthRequestEndpoint(
            verifier: signer.verifier,
            authorizer: AllowAllAuthorizer(),
            clock: { TestSigner.now },
            accessLog: AccessLog(logger: log.logger)
        )
        let good = signer.presign(method: "GET", path: "/bucket/a.txt")
        _ = endpoint.respond(
            to: subrequest(method: "GET", uri: good, clientHeaders: [("Host", "s3.local")]),
            requestId: "OK1"
        )
        let bad = good.replacingOccurrences(of: "/a.txt", with: "/b.txt")
        _ = endpoint.respond(
            to: subrequest(method: "GET", uri: bad, clientHeaders: [("Host", "s3.local")]),
            requestId: "BAD1"
        )
        let events = log.events.withLock { $0 }
        try #require(events.count == 2)
        #expect(events.allSatisfy { $0.message == "auth_request" })
        let (allowed, refused) = (events[0].metadata, events[1].metadata)
        #expect(allowed["request_id"] == "OK1")
        #expect(allowed["outcome"] == "authorized")
        #expect(allowed["status"]?.description == "200")
        #expect(allowed["access_key_id"] == "AKIDEXAMPLE")
        #expect(allowed["auth_form"] == "presigned")
        #expect(allowed["bucket"] == "bucket")
        #expect(allowed["key"] == "a.txt")
        #expect(allowed["action"] == "read")
        #expect(allowed["path"] == "/bucket/a.txt")
        #expect(refused["outcome"] == "refused")
        #expect(refused["status"]?.description == "403")
        #expect(refused["error_code"] == "SignatureDoesNotMatch")
        let text = "\(events)"
        #expect(!text.contains(String(good.split(separator: "=").last!)))
        #expect(!text.contains("X-Amz-"))
    }

    @Test("what the proxy would not forward, /auth does not allow either: methods, targets, bodies, X-Sidecar-*")
    func forwardingRulesApply() {
        let cases: [(method: String, uri: String, extra: [(String, String)], length: String?, code: String, status: String)] = [
            ("TRACE", "/bucket/k", [], nil, "MethodNotAllowed", "405"),
            ("MOVE", "/bucket/k", [("Destination", "/secret/k")], nil, "MethodNotAllowed", "405"),
            ("GET", "/bucket/k|x", [], nil, "InvalidURI", "400"),
            ("GET", "/bucket/k", [], "12", "InvalidRequest", "400"),
            ("GET", "/bucket/k", [("X-Sidecar-Access-Key", "admin")], nil, "InvalidRequest", "400"),
        ]
        for c in cases {
            let headers = signer.sign(method: c.method, uri: c.uri, headers: c.extra)
            let response = endpoint().respond(
                to: subrequest(method: c.method, uri: c.uri, clientHeaders: headers, contentLength: c.length),
                requestId: "R"
            )
            #expect(response.status == 403, "\(c.method) \(c.uri)")
            #expect(response.header("X-S3-Error-Code") == c.code, "\(c.method) \(c.uri)")
            #expect(response.header("X-S3-Error-Status") == c.status, "\(c.method) \(c.uri)")
        }
    }
}
