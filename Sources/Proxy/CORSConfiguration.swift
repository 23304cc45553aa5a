/// Cross-origin access for browsers: which pages may call the sidecar, with which methods and headers,
/// and which response headers their scripts may read.
public struct CORSConfiguration: Sendable, Equatable {
    /// Allowed origins: an exact origin (`https://app.example.com`), a wildcard over sub-domains
    /// (`https://*.example.com`, or `*.example.com` for any scheme), a host without scheme
    /// (`app.example.com`, any scheme), or `*` for every origin.
    public var allowedOrigins: [String]
    public var allowedMethods: [String]
    /// Request headers a page may send; `*` allows whatever the preflight asks for.
    public var allowedHeaders: [String]
    /// Response headers a page's script may read.
    public var exposedHeaders: [String]
    /// Seconds a browser may cache a preflight answer.
    public var maxAgeSeconds: Int

    public static let defaultMethods = ["GET", "PUT", "POST", "HEAD", "DELETE"]
    public static let defaultExposedHeaders = [
        "ETag", "x-amz-request-id", "x-amz-version-id",
        "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After",
    ]

    public init(
        allowedOrigins: [String],
        allowedMethods: [String] = CORSConfiguration.defaultMethods,
        allowedHeaders: [String] = ["*"],
        exposedHeaders: [String] = CORSConfiguration.defaultExposedHeaders,
        maxAgeSeconds: Int = 600
    ) {
        self.allowedOrigins = allowedOrigins
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders
        self.exposedHeaders = exposedHeaders
        self.maxAgeSeconds = maxAgeSeconds
    }

    /// Whether a page from `origin` (the `Origin` header: `scheme://host[:port]`) may call the sidecar.
    public func allows(origin: String) -> Bool {
        let origin = origin.lowercased()
        guard let separator = origin.range(of: "://") else { return allowedOrigins.contains("*") }
        let scheme = origin[..<separator.lowerBound]
        let authority = origin[separator.upperBound...]
        return allowedOrigins.contains { pattern in
            let pattern = pattern.lowercased()
            if pattern == "*" { return true }
            var hostPattern = Substring(pattern)
            if let patternSeparator = pattern.range(of: "://") {
                guard pattern[..<patternSeparator.lowerBound] == scheme else { return false }
                hostPattern = pattern[patternSeparator.upperBound...]
            }
            if hostPattern.hasPrefix("*.") {
                // Sub-domains only, at any depth; never the bare domain or a look-alike (`evilexample.com`).
                return authority.hasSuffix(hostPattern.dropFirst()) && authority.count > hostPattern.count - 1
            }
            return authority == hostPattern
        }
    }

    /// Whether a preflight's `Access-Control-Request-Method` is allowed.
    func allows(method: String) -> Bool {
        allowedMethods.contains { $0.uppercased() == method.uppercased() }
    }

    /// The allowed subset check for `Access-Control-Request-Headers`: `nil` if some header is not allowed.
    func allows(requestedHeaders: [String]) -> Bool {
        if allowedHeaders.contains("*") { return true }
        let allowed = Set(allowedHeaders.map { $0.lowercased() })
        return requestedHeaders.allSatisfy { allowed.contains($0.lowercased()) }
    }
}
