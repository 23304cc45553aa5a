import Foundation
import NIOCore
import Proxy
import Testing
import Verifier

@testable import Sidecar

/// `ServeOptions+Proxy`: each option reaches the library value it configures.
@Suite("Options to the proxy's configuration")
struct ServeOptionsMappingTests {
    static let upstream = UpstreamEndpoint(host: "backend", port: 9000)

    /// The options of a configuration file's JSON, checked.
    static func options(_ json: String = "{}") throws -> ServeOptions {
        try ServeOptions.resolve(try ServeSettings.parse(Data(json.utf8), source: "t.json"))
    }

    static func proxy(_ json: String = "{}") throws -> ProxyConfiguration {
        try options(json).proxyConfiguration(upstream: upstream, tls: nil)
    }

    @Test("listen: host and port of the listener; the upstream endpoint is the one given")
    func listen() throws {
        let configuration = try Self.proxy(#"{"listen": "[::1]:9443"}"#)
        #expect(
            configuration.listen.host == "::1" && configuration.listen.port == 9443 && configuration.listen.tls == nil
        )
        #expect(configuration.upstream == Self.upstream)
    }

    @Test("mode: passthrough and trusted as such; resign signs with the upstream key for the region")
    func mode() throws {
        let base = #""upstream": "http://u", "credentials": "/k", "#
        guard case .passthrough = try Self.proxy("{\(base)\"mode\": \"passthrough\"}").mode else {
            Issue.record("passthrough")
            return
        }
        guard case .trusted = try Self.proxy("{\(base)\"mode\": \"trusted\"}").mode else {
            Issue.record("trusted")
            return
        }
        let resign = try Self.proxy(
            "{\(base)\"mode\": \"resign\", \"region\": \"eu-west-1\", \"upstreamAccessKeyId\": \"UP\", "
                + "\"upstreamSecretAccessKey\": \"s\"}"
        )
        guard case .resign(let credentials) = resign.mode else {
            Issue.record("resign")
            return
        }
        #expect(
            credentials.accessKeyId == "UP" && credentials.secretAccessKey == "s" && credentials.region == "eu-west-1"
        )
    }

    @Test("upstreamChecksumTrailer: nil leaves the mode's default, a value is passed on")
    func trailingChecksum() throws {
        #expect(try Self.proxy().trailingChecksum == nil)
        #expect(try Self.proxy(#"{"upstreamChecksumTrailer": "drop"}"#).trailingChecksum == .drop)
    }

    @Test("idleTimeout, upstreamTimeout and headerTimeout: the three timeouts, in seconds")
    func timeouts() throws {
        let timeouts = try Self.proxy(#"{"idleTimeout": 7, "upstreamTimeout": 8, "headerTimeout": 9}"#).timeouts
        #expect(
            timeouts.clientIdle == .seconds(7) && timeouts.upstreamRead == .seconds(8)
                && timeouts.clientHead == .seconds(9)
        )
        let defaults = try Self.proxy().timeouts
        #expect(
            defaults.clientIdle == .seconds(60) && defaults.upstreamRead == .seconds(60)
                && defaults.clientHead == .seconds(30)
        )
    }

    @Test("maxConnections and maxObjectSize: the limits; none given, no limit")
    func limits() throws {
        let limits = try Self.proxy(#"{"maxConnections": 12, "maxObjectSize": 5368709120}"#).limits
        #expect(limits.maxConnections == 12 && limits.maxObjectSize == 5_368_709_120)
        let none = try Self.proxy().limits
        #expect(none.maxConnections == nil && none.maxObjectSize == nil)
    }

    @Test("upstreamConnections: the pool's connections per event loop")
    func pool() throws {
        #expect(try Self.proxy(#"{"upstreamConnections": 3}"#).pool.maxConnectionsPerEventLoop == 3)
        #expect(try Self.proxy().pool.maxConnectionsPerEventLoop == 128)
    }

    @Test("upstreamCa: the CA file of an https upstream")
    func upstreamCa() throws {
        let configuration = try Self.proxy(#"{"upstream": "https://u", "credentials": "/k", "upstreamCa": "/ca.pem"}"#)
        #expect(configuration.upstreamCAFile == "/ca.pem")
        #expect(try Self.proxy().upstreamCAFile == nil)
    }

    @Test("trustedProxy: the trusted blocks")
    func trustedProxies() throws {
        let configuration = try Self.proxy(#"{"trustedProxy": ["10.0.0.0/8"]}"#)
        #expect(configuration.trustedProxies == TrustedProxies([try .init("10.0.0.0/8")]))
        #expect(try Self.proxy().trustedProxies == TrustedProxies.none)
    }

    @Test("corsOrigin and the cors keys: the CORS configuration; no origin, no CORS")
    func cors() throws {
        let cors = try #require(try Self.proxy(#"{"corsOrigin": ["https://a.example"], "corsMaxAge": 5}"#).cors)
        #expect(cors.allowedOrigins == ["https://a.example"] && cors.maxAgeSeconds == 5)
        #expect(try Self.proxy().cors == nil)
    }

    @Test("region and sigv2: the verifier's region and Signature V2 policy")
    func verifier() throws {
        let refuse = try Self.options(#"{"region": "eu-west-1", "sigv2": "refuse"}"#).verifierConfiguration
        #expect(refuse.regions == ["eu-west-1"] && !refuse.acceptSignatureV2)
        let defaults = try Self.options().verifierConfiguration
        #expect(defaults.regions == ["us-east-1"] && defaults.acceptSignatureV2)
    }

    @Test("publicUrl and region: the presign API's public base and region")
    func presign() throws {
        let configuration = try Self.options(#"{"publicUrl": "https://files.example.com", "region": "r"}"#)
            .presignConfiguration
        #expect(configuration.publicURL?.scheme == "https" && configuration.publicURL?.host == "files.example.com")
        #expect(configuration.region == "r")
        #expect(try Self.options().presignConfiguration.publicURL == nil)
    }

    @Test("authRequireUnsignedPayload: the /auth endpoint's payload rule")
    func authRequest() throws {
        #expect(
            try Self.options(#"{"authRequireUnsignedPayload": true}"#).authRequestConfiguration.requireUnsignedPayload
        )
        #expect(try !Self.options().authRequestConfiguration.requireUnsignedPayload)
    }

    @Test("drainTimeout: the drain on SIGTERM, in seconds")
    func drain() throws {
        #expect(try Self.options(#"{"drainTimeout": 4}"#).drainDuration == .seconds(4))
        #expect(try Self.options().drainDuration == .seconds(30))
    }
}
