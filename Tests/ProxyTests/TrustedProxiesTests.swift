import NIOCore
import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

@Suite("Trusted proxies: whose X-Forwarded-* headers count")
struct TrustedProxiesTests {
    func cidr(_ text: String) throws -> TrustedProxies.CIDR {
        try TrustedProxies.CIDR(text)
    }

    func peer(_ ip: String) throws -> SocketAddress {
        try SocketAddress(ipAddress: ip, port: 4000)
    }

    @Test("CIDR blocks match their addresses, IPv4 and IPv6, and nothing else")
    func cidrMatching() throws {
        let proxies = TrustedProxies([try cidr("10.1.0.0/16"), try cidr("192.0.2.7"), try cidr("fd00::/8")])
        #expect(proxies.trusts(try peer("10.1.255.3")))
        #expect(!proxies.trusts(try peer("10.2.0.1")))
        #expect(proxies.trusts(try peer("192.0.2.7")))
        #expect(!proxies.trusts(try peer("192.0.2.8")))
        #expect(proxies.trusts(try peer("fd12::1")))
        #expect(!proxies.trusts(try peer("fe80::1")))
        #expect(proxies.trusts(try peer("::ffff:10.1.2.3")), "an IPv4-mapped peer counts as its IPv4 address")
        #expect(!TrustedProxies.none.trusts(try peer("127.0.0.1")))
        #expect(!proxies.trusts(nil))
    }

    @Test("bad CIDR text is refused with the reason")
    func cidrErrors() {
        #expect(throws: TrustedProxies.CIDR.ParseError.self) { try TrustedProxies.CIDR("10.0.0.0/33") }
        #expect(throws: TrustedProxies.CIDR.ParseError.self) { try TrustedProxies.CIDR("not-an-ip") }
        #expect(throws: TrustedProxies.CIDR.ParseError.self) { try TrustedProxies.CIDR("10.0.0.0/x") }
        #expect((try? TrustedProxies.CIDR("10.9.8.7/8"))?.description == "10.0.0.0/8")
    }

    @Test("from a trusted peer, the signed head takes X-Forwarded-Host and X-Forwarded-Prefix")
    func trustedPeer() throws {
        let proxies = TrustedProxies([try cidr("127.0.0.0/8")])
        let head = S3RequestHead(
            method: "GET",
            uri: "/bucket/key?x=1",
            headers: [
                ("Host", "sidecar:8080"), ("X-Forwarded-Host", "s3.example.com"), ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Prefix", "/storage/"),
            ]
        )
        let signed = proxies.signedHead(head, peer: try peer("127.0.0.1"))
        #expect(signed.uri == "/storage/bucket/key?x=1")
        #expect(signed.firstValue(of: "host") == "s3.example.com")
        #expect(signed.headers.filter { $0.name.lowercased() == "host" }.count == 1)
    }

    @Test("a list or a repeated header: the last element, written by the nearest proxy, counts")
    func lastElement() throws {
        let proxies = TrustedProxies([try cidr("127.0.0.1")])
        let head = S3RequestHead(
            method: "GET",
            uri: "/b/k",
            headers: [("Host", "h"), ("X-Forwarded-Host", "evil.example, real.example"), ("X-Forwarded-Prefix", "p")]
        )
        let signed = proxies.signedHead(head, peer: try peer("127.0.0.1"))
        #expect(signed.firstValue(of: "host") == "real.example")
        #expect(signed.uri == "/p/b/k")
    }

    @Test("from an untrusted peer the headers change nothing")
    func untrustedPeer() throws {
        let head = S3RequestHead(
            method: "GET",
            uri: "/bucket/key",
            headers: [("Host", "sidecar:8080"), ("X-Forwarded-Host", "spoofed"), ("X-Forwarded-Prefix", "/x")]
        )
        for proxies in [TrustedProxies.none, TrustedProxies([try cidr("10.0.0.0/8")])] {
            let signed = proxies.signedHead(head, peer: try peer("127.0.0.1"))
            #expect(signed.uri == head.uri)
            #expect(signed.firstValue(of: "host") == "sidecar:8080")
        }
    }

    @Test("ProxyHandler: a client signing the forwarded host is verified behind a trusted proxy only")
    func handlerUsesForwardedHost() throws {
        // The client signed for s3.example.com/storage; the proxy reached us as 127.0.0.1 with Host sidecar.
        let signer = TestSigner()
        let signedHeaders = signer.sign(method: "GET", uri: "/storage/bucket/key", host: "s3.example.com")
        var sent = signedHeaders.map { $0.name == "Host" ? ($0.name, "sidecar:8080") : $0 }
        sent.append(("X-Forwarded-Host", "s3.example.com"))
        sent.append(("X-Forwarded-Prefix", "/storage"))

        let trusted = try EmbeddedProxy(trustedProxies: TrustedProxies([try cidr("127.0.0.1")]))
        try trusted.send(.GET, "/bucket/key", headers: sent)
        try trusted.sendEnd()
        guard case .head(let upstreamHead) = try trusted.upstreams.upstreamParts().first else {
            Issue.record("nothing forwarded from the trusted proxy")
            return
        }
        // Upstream, the request stays as it was received.
        #expect(upstreamHead.uri == "/bucket/key")

        let untrusted = try EmbeddedProxy()
        try untrusted.send(.GET, "/bucket/key", headers: sent)
        try untrusted.sendEnd()
        #expect(try untrusted.responseParts().statuses == [403])
        #expect(untrusted.upstreams.acquireCalls == 0)
    }
}
