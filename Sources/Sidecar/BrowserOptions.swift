import ArgumentParser
import Foundation
import Proxy

/// `serve`'s options for browsers: the public base of presigned URLs and cross-origin access. Flags only
/// (empty or `nil`: not given); each property is named after its configuration key, the flags join the other
/// layers in `ConfigurationLayers`, and `ServeOptions.resolve` checks the merged values and builds the CORS
/// configuration.
struct BrowserOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The base of URLs the presign API mints, as browsers reach the sidecar (e.g. https://files.example.com).",
            discussion: "Scheme and host (and port) only. Default: the address the API request came in on, over http.",
            valueName: "url"
        )
    )
    var publicUrl: String?

    @Option(
        name: .customLong("cors-origin"),
        help: ArgumentHelp(
            "An origin browsers may call from (repeatable): https://app.example.com, https://*.example.com, or *.",
            discussion: "Without any, no CORS headers are sent and preflights are refused by S3 authentication.",
            valueName: "origin"
        )
    )
    var corsOrigin: [String] = []

    @Option(
        name: .customLong("cors-method"),
        help: ArgumentHelp(
            "A method cross-origin pages may use (repeatable; default GET PUT POST HEAD DELETE).",
            valueName: "method"
        )
    )
    var corsMethod: [String] = []

    @Option(
        name: .customLong("cors-allow-header"),
        help: ArgumentHelp(
            "A request header cross-origin pages may send (repeatable; default: any).",
            valueName: "header"
        )
    )
    var corsAllowHeader: [String] = []

    @Option(
        name: .customLong("cors-expose-header"),
        help: ArgumentHelp(
            "A response header cross-origin scripts may read (repeatable; default ETag, x-amz-request-id, "
                + "x-amz-version-id and the rate-limit headers).",
            valueName: "header"
        )
    )
    var corsExposeHeader: [String] = []

    @Option(help: "Seconds browsers may cache a CORS preflight answer. \(ServeSettings.helpDefault(\.corsMaxAge))")
    var corsMaxAge: Int?

    /// Roughly: an origin has neither spaces nor a path.
    static func isOrigin(_ text: String) -> Bool {
        !(text.isEmpty || text.contains(" ") || text.hasSuffix("/"))
    }

    /// The CORS configuration, or `nil` without any origin.
    static func cors(
        origins: [String],
        methods: [String],
        allowHeaders: [String],
        exposeHeaders: [String],
        maxAge: Int
    ) -> CORSConfiguration? {
        guard !origins.isEmpty else { return nil }
        return CORSConfiguration(
            allowedOrigins: origins,
            allowedMethods: methods.isEmpty ? CORSConfiguration.defaultMethods : methods.map { $0.uppercased() },
            allowedHeaders: allowHeaders.isEmpty ? ["*"] : allowHeaders,
            exposedHeaders: exposeHeaders.isEmpty ? CORSConfiguration.defaultExposedHeaders : exposeHeaders,
            maxAgeSeconds: maxAge
        )
    }

    /// `https://files.example.com[:port][/]` → scheme and `Host`; errors name the `publicUrl` field.
    static func parsePublicURL(_ text: String) throws(ConfigurationFieldError) -> PresignAPI.PublicURL {
        func fail(_ why: String) -> ConfigurationFieldError { ConfigurationFieldError(field: "publicUrl", message: "\"\(text)\": \(why)") }
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased() else {
            throw fail("not a URL")
        }
        guard scheme == "http" || scheme == "https" else { throw fail("the scheme must be http or https") }
        guard var host = components.host, !host.isEmpty else { throw fail("no host") }
        guard components.path.isEmpty || components.path == "/" else {
            throw fail("no path allowed (URLs are path-style: /bucket/key from the root)")
        }
        guard components.query == nil, components.fragment == nil, components.user == nil else {
            throw fail("no query, fragment or user allowed")
        }
        if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
        if let port = components.port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) {
            host += ":\(port)"
        }
        return PresignAPI.PublicURL(scheme: scheme, host: host.lowercased())
    }
}
