import Testing

@testable import Proxy

@Suite("UpstreamEndpoint")
struct UpstreamEndpointTests {
    @Test("http URLs with host and optional port parse; the Host header omits port 80")
    func parses() throws {
        let a = try UpstreamEndpoint(url: "http://127.0.0.1:9000")
        #expect(a.scheme == .http && a.host == "127.0.0.1" && a.port == 9000 && a.hostHeader == "127.0.0.1:9000")
        let b = try UpstreamEndpoint(url: "http://minio/")
        #expect(b.host == "minio" && b.port == 80 && b.hostHeader == "minio")
        let c = try UpstreamEndpoint(url: "http://[::1]:9000")
        #expect(c.host == "::1" && c.hostHeader == "[::1]:9000")
    }

    @Test("https URLs default to port 443, which the Host header then omits; other ports stay")
    func parsesHTTPS() throws {
        let a = try UpstreamEndpoint(url: "https://minio.internal")
        #expect(a.scheme == .https && a.port == 443 && a.hostHeader == "minio.internal")
        #expect(a.description == "https://minio.internal" && !a.hostIsIPAddress)
        let b = try UpstreamEndpoint(url: "HTTPS://localhost:9443/")
        #expect(b.scheme == .https && b.host == "localhost" && b.port == 9443 && b.hostHeader == "localhost:9443")
        let c = try UpstreamEndpoint(url: "https://127.0.0.1:80")
        #expect(c.hostHeader == "127.0.0.1:80" && c.hostIsIPAddress)
        let d = try UpstreamEndpoint(url: "https://[::1]")
        #expect(d.port == 443 && d.hostHeader == "[::1]" && d.hostIsIPAddress)
    }

    @Test(
        "paths, bad ports and other schemes are refused with a reason",
        arguments: [
            "https://x:443/bucket", "http://x:9000/prefix", "ftp://x", "http://x:0", "http://x:abc", "http://", "x:9000",
            "https://", "https://user@x",
        ]
    )
    func refuses(_ url: String) {
        #expect(throws: UpstreamEndpoint.ParseError.self) { try UpstreamEndpoint(url: url) }
    }
}
