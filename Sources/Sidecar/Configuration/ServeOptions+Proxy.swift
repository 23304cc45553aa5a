import NIOCore
import Proxy
import Verifier

/// How the checked options become the values of the libraries: the proxy's configuration, the verifier's,
/// the presign API's and the `/auth` endpoint's. One place, and one test per option (`ServeOptionsMappingTests`).
extension ServeOptions {
    /// How forwarded requests are authenticated upstream.
    var upstreamMode: UpstreamMode {
        switch mode {
        case .passthrough: .passthrough
        case .trusted: .trusted
        case .resign:
            .resign(
                UpstreamCredentials(
                    accessKeyId: upstreamAccessKeyId ?? "",
                    secretAccessKey: upstreamSecretAccessKey ?? "",
                    region: region
                )
            )
        }
    }

    /// The proxy's configuration, forwarding to `upstream` (the `--upstream` endpoint, or the embedded
    /// store's) and listening with `tls` (loaded from `tlsCert`/`tlsKey` by the caller).
    func proxyConfiguration(upstream: UpstreamEndpoint, tls: ListenerTLS?) -> ProxyConfiguration {
        var configuration = ProxyConfiguration(
            listen: .init(host: listenHost, port: listenPort, tls: tls),
            upstream: upstream,
            mode: upstreamMode,
            trailingChecksum: upstreamChecksumTrailer,
            timeouts: .init(
                clientIdle: .seconds(Int64(idleTimeout)),
                upstreamRead: .seconds(Int64(upstreamTimeout)),
                clientHead: .seconds(Int64(headerTimeout))
            ),
            limits: .init(maxConnections: maxConnections, maxObjectSize: maxObjectSize),
            pool: .init(maxConnectionsPerEventLoop: upstreamConnections),
            upstreamCAFile: upstreamCa
        )
        configuration.trustedProxies = trustedProxies
        configuration.cors = cors
        return configuration
    }

    /// The signature verifier's configuration: the region clients sign for, and Signature V2.
    var verifierConfiguration: SigV4Verifier.Configuration {
        .init(regions: [region], acceptSignatureV2: sigv2 == .accept)
    }

    /// The presign API's configuration: the public base of minted URLs and the region they are signed for.
    var presignConfiguration: PresignAPI.Configuration {
        .init(publicURL: publicURL, region: region)
    }

    /// The nginx `auth_request` endpoint's configuration.
    var authRequestConfiguration: AuthRequestEndpoint.Configuration {
        .init(requireUnsignedPayload: authRequireUnsignedPayload)
    }

    /// How long requests in flight may take to finish on SIGTERM.
    var drainDuration: TimeAmount { .seconds(Int64(drainTimeout)) }
}
