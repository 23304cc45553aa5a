import Testing

@testable import Proxy

@Suite("UpstreamEndpoint")
struct UpstreamEndpointTests {
    @Test("http URLs with host and optional port parse; the Host header omits port 80")
    func parses() throws {
        let a = try UpstreamEndpoint(url: "http://127.0.0.1:9000")
        #expect(a.host == "127.0.0.1" && a.port == 9000 && a.hostHeader == "127.0.0.1:9000")
        let b = try UpstreamEndpoint(url: "http://minio/")
        #expect(b.host == "minio" && b.port == 80 && b.hostHeader == "minio")
        let c = try UpstreamEndpoint(url: "http://[::1]:9000")
        #expect(c.host == "::1" && c.hostHeader == "[::1]:9000")
    }

    @Test(
        "https, paths, bad ports and other schemes are refused with a reason",
        arguments: [
            "https://x:443", "http://x:9000/prefix", "ftp://x", "http://x:0", "http://x:abc", "http://", "x:9000",
        ]
    )
    func refuses(_ url: String) {
        #expect(throws: UpstreamEndpoint.ParseError.self) { try UpstreamEndpoint(url: url) }
    }
}
