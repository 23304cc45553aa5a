import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import Verifier

@testable import Proxy

/// Keeps every log event's message and metadata.
final class CapturedLog: Sendable {
    let events = Mutex<[(message: String, metadata: Logger.Metadata)]>([])

    var logger: Logger {
        Logger(label: "test.access") { _ in Handler(sink: self) }
    }

    var lines: [Logger.Metadata] { events.withLock { $0.map(\.metadata) } }

    struct Handler: LogHandler {
        let sink: CapturedLog
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            sink.events.withLock { $0.append((event.message.description, event.metadata ?? [:])) }
        }
    }
}

@Suite("Access log records")
struct AccessLogTests {
    @Test("a form upload's line counts every body byte once, the part replayed after the upstream connects too")
    func formUploadBytesIn() throws {
        let log = CapturedLog()
        let proxy = try EmbeddedProxy(accessLog: AccessLog(logger: log.logger))
        let body = PostObjectUploadTests.body(PostObjectUploadTests.form())
        try PostObjectUploadTests.post(proxy, body)
        _ = try proxy.upstreams.upstreamParts()
        try PostObjectUploadTests.upstreamAnswers(proxy)
        let lines = log.lines
        try #require(lines.count == 1)
        #expect(lines[0]["auth_form"] == "post-form")
        #expect(lines[0]["bytes_in"]?.description == String(body.count))
    }

    @Test("a forwarded request: one line with key, form, bucket, key, action, statuses and bytes")
    func forwarded() throws {
        let log = CapturedLog()
        let proxy = try EmbeddedProxy(accessLog: AccessLog(logger: log.logger))
        let uri = "/photos/cat.jpg"
        try proxy.send(.PUT, uri, headers: proxy.signer.sign(method: "PUT", uri: uri, headers: [("Content-Length", "5")]))
        try proxy.sendBody("hello")
        try proxy.sendEnd()
        _ = try proxy.upstreams.upstreamParts()
        let upstream = proxy.upstreams.upstream
        try upstream.writeInbound(
            HTTPClientResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "3"])
            )
        )
        try upstream.writeInbound(HTTPClientResponsePart.body(ByteBuffer(string: "abc")))
        #expect(log.lines.isEmpty, "the line is written when the exchange ends")
        try upstream.writeInbound(HTTPClientResponsePart.end(nil))

        let lines = log.lines
        try #require(lines.count == 1)
        let line = lines[0]
        #expect(line["access_key_id"] == "AKIDEXAMPLE")
        #expect(line["auth_form"] == "header")
        #expect(line["signature_version"]?.description == "4")
        #expect(line["method"] == "PUT")
        #expect(line["path"] == "/photos/cat.jpg")
        #expect(line["bucket"] == "photos")
        #expect(line["key"] == "cat.jpg")
        #expect(line["action"] == "write")
        #expect(line["status"]?.description == "200")
        #expect(line["upstream_status"]?.description == "200")
        #expect(line["outcome"] == "forwarded")
        #expect(line["bytes_in"]?.description == "5")
        #expect(line["bytes_out"]?.description == "3")
        #expect(line["remote_addr"] == "127.0.0.1:1234")
        #expect(line["request_id"]?.description.count == 16)
        #expect(line["error_code"] == nil)
    }

    @Test("a refused presigned request: the path, never the query, signature or credential")
    func refusedPresignedHasNoSecrets() throws {
        let log = CapturedLog()
        let proxy = try EmbeddedProxy(accessLog: AccessLog(logger: log.logger))
        let good = proxy.signer.presign(method: "GET", path: "/bucket/a.txt")
        let tampered = good.replacingOccurrences(of: "/a.txt", with: "/b.txt")
        try proxy.send(.GET, tampered, headers: [("Host", "s3.local")])
        try proxy.sendEnd()
        #expect(try proxy.responseParts().statuses == [403])

        let lines = log.lines
        try #require(lines.count == 1)
        let line = lines[0]
        #expect(line["path"] == "/bucket/b.txt")
        #expect(line["error_code"] == "SignatureDoesNotMatch")
        #expect(line["status"]?.description == "403")
        #expect(line["outcome"] == "refused")
        #expect(line["access_key_id"] == nil, "the signature did not verify: no key is vouched for")
        let signature = String(good.split(separator: "=").last!)
        let text = "\(line)"
        #expect(!text.contains(signature))
        #expect(!text.contains("X-Amz-"))
        #expect(!text.contains(proxy.signer.secretAccessKey))
    }

    @Test("a header-signed request's record never holds the Authorization value or signature")
    func headerSignedHasNoSecrets() throws {
        let log = CapturedLog()
        let proxy = try EmbeddedProxy(accessLog: AccessLog(logger: log.logger))
        let uri = "/bucket/key"
        let headers = proxy.signer.sign(method: "GET", uri: uri, secret: "wrong-secret")
        try proxy.send(.GET, uri, headers: headers)
        try proxy.sendEnd()
        let authorization = headers.last!.value
        let signature = String(authorization.split(separator: "=").last!)
        let text = "\(log.lines)"
        #expect(log.lines.count == 1)
        #expect(!text.contains(signature))
        #expect(!text.contains("Credential="))
        #expect(!text.contains("wrong-secret"))
    }

    @Test("an exchange cut mid-body is logged once, as aborted, with the bytes that came")
    func aborted() throws {
        let log = CapturedLog()
        let proxy = try EmbeddedProxy(accessLog: AccessLog(logger: log.logger))
        let uri = "/bucket/big"
        try proxy.send(.PUT, uri, headers: proxy.signer.sign(method: "PUT", uri: uri, headers: [("Content-Length", "100")]))
        try proxy.sendBody("part")
        _ = try proxy.upstreams.upstreamParts()
        try proxy.client.close().wait()
        let lines = log.lines
        try #require(lines.count == 1)
        #expect(lines[0]["outcome"] == "aborted")
        #expect(lines[0]["status"]?.description == "0")
        #expect(lines[0]["bytes_in"]?.description == "4")
    }
}
