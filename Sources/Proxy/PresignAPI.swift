import Foundation
import NIOHTTP1
import Verifier

/// The JSON API under `/api/object-storage/`: presigned URLs for applications that hold an API key, and
/// a listing of a bucket so they can find keys to hand out.
///
/// - `POST /api/object-storage/buckets/{name}/presign` with `{"key", "action": "upload" | "download" |
///   "post", "contentType"?, "expiresIn"?}`; `"post"` (a browser form, S3 POST Object) also takes
///   `"maxSize"?`, `"keyPrefix"?`, `"successActionRedirect"?` and `"successActionStatus"?`
/// - `GET /api/object-storage/buckets/{name}/objects?prefix=&cursor=&limit=`
///
/// This type is the API's logic, free of I/O: requests in, `PresignAPIResponse` out, the clock and the rate
/// limiter injected. `PresignAPIHandler` carries it on the wire and fetches listings from the upstream.
public struct PresignAPI: Sendable {
    public struct Configuration: Sendable {
        /// The base of minted URLs, as browsers reach the sidecar; `nil`: the address the API request came in
        /// on (the listen address), over http.
        public var publicURL: PublicURL?
        /// The region URLs are signed for (one the verifier serves).
        public var region: String
        public var service: String
        /// `expiresIn` when the request has none, and its largest accepted value (S3: 7 days).
        public var defaultExpiresIn: Int64
        public var maxExpiresIn: Int64
        /// Listing page sizes.
        public var defaultListLimit: Int
        public var maxListLimit: Int
        /// The largest JSON body accepted.
        public var maxBodyBytes: Int

        public init(
            publicURL: PublicURL? = nil,
            region: String = "us-east-1",
            service: String = "s3",
            defaultExpiresIn: Int64 = 900,
            maxExpiresIn: Int64 = 604_800,
            defaultListLimit: Int = 100,
            maxListLimit: Int = 1000,
            maxBodyBytes: Int = 64 * 1024
        ) {
            self.publicURL = publicURL
            self.region = region
            self.service = service
            self.defaultExpiresIn = defaultExpiresIn
            self.maxExpiresIn = maxExpiresIn
            self.defaultListLimit = defaultListLimit
            self.maxListLimit = maxListLimit
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// Scheme and authority of minted URLs: `https://files.example.com` is `("https", "files.example.com")`.
    public struct PublicURL: Sendable, Equatable, CustomStringConvertible {
        public var scheme: String
        /// Host, with `:port` when it is not the scheme's default (exactly the `Host` browsers will send).
        public var host: String

        public init(scheme: String, host: String) {
            self.scheme = scheme
            self.host = host
        }

        public var description: String { "\(scheme)://\(host)" }
    }

    /// What a presigned URL is for. A new action is a case here and its arm in `mint`.
    enum Action: String, CaseIterable {
        case upload
        case download
        /// A signed HTML form (S3 POST Object): `{"url", "fields"}` instead of a presigned URL.
        case post

        /// The policy action the key needs.
        var policyAction: S3Action {
            switch self {
            case .upload, .post: .write
            case .download: .read
            }
        }

        /// The HTTP method the minted URL or form is used with.
        var method: String {
            switch self {
            case .upload: "PUT"
            case .download: "GET"
            case .post: "POST"
            }
        }
    }

    /// S3's largest single PUT, and so the largest file a form can upload: a form's default `maxSize`.
    static let maxPostSize: Int64 = 5 * 1024 * 1024 * 1024

    /// The routes of the API.
    enum Route: Equatable {
        case presign(bucket: String)
        case listObjects(bucket: String)
    }

    static let pathPrefix = "/api/object-storage/"

    public let configuration: Configuration
    let apiKeys: any APIKeyStore
    let credentials: any CredentialStore
    let authorizer: any RequestAuthorizer
    let limiter: any PresignRateLimiter
    public let mintedUploads: MintedUploads
    /// Milliseconds since 1970.
    let clock: @Sendable () -> Int64
    let signingKeys: SigningKeyCache

    /// - Parameters:
    ///   - apiKeys: The API keys (`ReloadableKeys` keeps them current across reloads).
    ///   - credentials: The access keys whose secrets sign URLs.
    ///   - authorizer: The access keys' policies.
    ///   - limiter: Presign requests per API key.
    ///   - clock: Milliseconds since 1970.
    public init(
        configuration: Configuration,
        apiKeys: any APIKeyStore,
        credentials: any CredentialStore,
        authorizer: any RequestAuthorizer,
        limiter: any PresignRateLimiter = TokenBucketRateLimiter(),
        mintedUploads: MintedUploads = MintedUploads(),
        clock: @escaping @Sendable () -> Int64 = PresignAPI.wallClockMillis,
        signingKeys: SigningKeyCache = SigningKeyCache(capacity: 256)
    ) {
        self.configuration = configuration
        self.apiKeys = apiKeys
        self.credentials = credentials
        self.authorizer = authorizer
        self.limiter = limiter
        self.mintedUploads = mintedUploads
        self.clock = clock
        self.signingKeys = signingKeys
    }

    @Sendable public static func wallClockMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    typealias Failure = PresignAPIResponse.Failure

    /// Whether a request target belongs to the API.
    static func handles(_ uri: String) -> Bool {
        uri.hasPrefix(pathPrefix)
    }

    /// The route of a request, or the failure to answer (`NOT_FOUND`, `METHOD_NOT_ALLOWED`).
    static func route(method: HTTPMethod, uri: String) -> Result<Route, Failure> {
        let path = S3RequestHead(method: "", uri: uri, headers: []).rawPath
        let parts = path.dropFirst(pathPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "buckets", !parts[1].isEmpty else {
            return .failure(Failure(code: .notFound, message: "no such API endpoint: \(path)"))
        }
        let bucket = S3Operation.decode(parts[1])
        let (route, allowed): (Route, HTTPMethod)
        switch parts[2] {
        case "presign": (route, allowed) = (.presign(bucket: bucket), .POST)
        case "objects": (route, allowed) = (.listObjects(bucket: bucket), .GET)
        default: return .failure(Failure(code: .notFound, message: "no such API endpoint: \(path)"))
        }
        guard method == allowed else {
            return .failure(
                Failure(
                    code: .methodNotAllowed,
                    message: "\(path) accepts \(allowed.rawValue) only",
                    headers: [("Allow", allowed.rawValue)]
                )
            )
        }
        return .success(route)
    }

    // MARK: - Common checks

    /// The API key presented and the access key it signs with.
    func authenticate(_ presented: String?) throws(Failure) -> (APIKey, Credential) {
        guard let presented, !presented.isEmpty else {
            throw Failure(code: .unauthorized, message: "missing X-API-Key header")
        }
        guard let key = apiKeys.apiKey(presented: presented) else {
            throw Failure(code: .unauthorized, message: "unknown API key")
        }
        guard let credential = credentials.credential(forAccessKeyId: key.accessKeyId) else {
            throw Failure(code: .forbidden, message: "the access key of this API key is disabled or unknown")
        }
        return (key, credential)
    }

    func authorize(_ operation: S3Operation, what: String) throws(Failure) {
        do throws(S3Error) {
            try authorizer.authorize(operation)
        } catch {
            throw Failure(code: .forbidden, message: "this API key may not \(what)")
        }
    }

    /// S3's bucket naming rules (3–63 lower-case letters, digits, `.` and `-`, starting and ending with a
    /// letter or digit).
    static func validateBucket(_ bucket: String) throws(Failure) {
        let bytes = Array(bucket.utf8)
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) }
        guard (3...63).contains(bytes.count), alnum(bytes.first!), alnum(bytes.last!),
            bytes.allSatisfy({ alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") })
        else {
            throw Failure.validation(
                "bucket",
                "bucket must be a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')"
            )
        }
    }

    static func validateKey(_ key: String, field: String = "key") throws(Failure) {
        guard !key.isEmpty else { throw Failure.validation(field, "\(field) must not be empty") }
        guard key.utf8.count <= 1024 else {
            throw Failure.validation(field, "\(field) must be at most 1024 bytes of UTF-8 (it has \(key.utf8.count))")
        }
    }

    // MARK: - Presign

    private struct PresignRequest: Decodable {
        var key: String
        var action: String
        var contentType: String?
        /// A Double, checked to be integral afterwards: Foundation's decoder reports a fraction or an
        /// overflow for an integer type as invalid JSON with no field named.
        var expiresIn: Double?
        // `"post"` only.
        var maxSize: Double?
        var keyPrefix: Bool?
        var successActionRedirect: String?
        var successActionStatus: Double?
    }

    /// What a form adds to a presign request, validated.
    private struct PostOptions {
        var maxSize: Int64 = PresignAPI.maxPostSize
        var keyIsPrefix = false
        var successActionRedirect: String?
        var successActionStatus: Int?
    }

    private struct PresignData: Encodable {
        var url: String
        var expiresIn: Int64
        var method: String
        /// Headers the request must carry (the signed Content-Type).
        var headers: [String: String]?
        /// A form's fields, to send before the file (`"post"`).
        var fields: [String: String]?
    }

    /// `POST …/buckets/{bucket}/presign`.
    ///
    /// - Parameters:
    ///   - presentedKey: The `X-API-Key` header.
    ///   - fallbackURL: The base of URLs when no public URL is configured: the listen address.
    func presign(
        bucket: String,
        presentedKey: String?,
        body: [UInt8],
        fallbackURL: PublicURL,
        requestId: String
    ) -> PresignAPIResponse {
        let nowMillis = clock()
        var headers: [(String, String)] = []
        do throws(Failure) {
            let (apiKey, credential) = try authenticate(presentedKey)
            let decision = limiter.consume(
                id: apiKey.fingerprint,
                perMinute: apiKey.presignPerMinute,
                nowMillis: nowMillis
            )
            headers = [
                ("X-RateLimit-Limit", String(decision.limit)),
                ("X-RateLimit-Remaining", String(decision.remaining)),
                ("X-RateLimit-Reset", String(decision.resetSeconds)),
            ]
            if let retry = decision.retryAfterSeconds, !decision.allowed {
                throw Failure(
                    code: .rateLimited,
                    message: "more than \(decision.limit) presign requests per minute; retry in \(retry) s",
                    headers: [("Retry-After", String(retry))]
                )
            }
            let request = try Self.decodePresign(body)
            try Self.validateBucket(bucket)
            guard let action = Action(rawValue: request.action) else {
                throw Failure.validation(
                    "action",
                    "action must be one of " + Action.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
                )
            }
            let post = try Self.postOptions(request, action: action)
            // A form's key prefix may be empty: the whole bucket.
            if !(post?.keyIsPrefix == true && request.key.isEmpty) { try Self.validateKey(request.key) }
            if let contentType = request.contentType { try Self.validateContentType(contentType) }
            var expiresIn = configuration.defaultExpiresIn
            if let raw = request.expiresIn {
                guard raw == raw.rounded(), abs(raw) < 1e15 else {
                    throw Failure.validation("expiresIn", "expiresIn must be an integer")
                }
                expiresIn = Int64(raw)
            }
            guard expiresIn > 0, expiresIn <= configuration.maxExpiresIn else {
                throw Failure.validation(
                    "expiresIn",
                    "expiresIn must be between 1 and \(configuration.maxExpiresIn) seconds"
                )
            }
            // For a prefix form the prefix stands for the key: a grant whose prefix it starts with covers
            // every key under it (and the form upload checks the final key again).
            try authorize(
                S3Operation(
                    accessKeyId: credential.accessKeyId,
                    method: action.method,
                    bucket: bucket,
                    key: request.key,
                    action: action.policyAction
                ),
                what: "\(action.rawValue) \(bucket)/\(request.key)\(post?.keyIsPrefix == true ? "*" : "")"
            )
            let data = try mint(
                action,
                bucket: bucket,
                key: request.key,
                contentType: request.contentType,
                post: post,
                expiresIn: expiresIn,
                credential: credential,
                base: configuration.publicURL ?? fallbackURL,
                now: nowMillis / 1000
            )
            return .success(data, requestId: requestId, nowMillis: nowMillis, headers: headers)
        } catch {
            return .failure(error, requestId: requestId, nowMillis: nowMillis, headers: headers)
        }
    }

    private func mint(
        _ action: Action,
        bucket: String,
        key: String,
        contentType: String?,
        post: PostOptions?,
        expiresIn: Int64,
        credential: Credential,
        base: PublicURL,
        now: Int64
    ) throws(Failure) -> PresignData {
        let method = action.method
        var signedContentType: String?
        switch action {
        case .upload:
            signedContentType = contentType
        case .download:
            // A GET carries no body: a signed Content-Type would only force browsers to send one.
            break
        case .post:
            let options = post ?? PostOptions()
            let form = PostForm.mint(
                bucket: bucket,
                key: key,
                keyIsPrefix: options.keyIsPrefix,
                contentType: contentType,
                maxSize: options.maxSize,
                minSize: 0,
                successActionStatus: options.successActionStatus,
                successActionRedirect: options.successActionRedirect,
                expiresIn: expiresIn,
                credential: credential,
                region: configuration.region,
                service: configuration.service,
                now: now
            )
            return PresignData(
                url: base.description + form.path,
                expiresIn: expiresIn,
                method: method,
                fields: form.fieldDictionary
            )
        }
        let minted: PresignedURL.Minted
        do throws(S3Error) {
            minted = try PresignedURL.make(
                PresignedURL.Request(
                    method: method,
                    scheme: base.scheme,
                    host: base.host,
                    rawPath: PresignedURL.encodePath(bucket: bucket, key: key),
                    contentType: signedContentType,
                    expires: expiresIn,
                    region: configuration.region,
                    service: configuration.service
                ),
                credential: credential,
                now: now,
                signingKeys: signingKeys
            )
        } catch {
            throw Failure(code: .internal, message: "the URL could not be signed")
        }
        if let signedContentType {
            mintedUploads.remember(
                signature: minted.signature,
                contentType: signedContentType,
                expiresAt: now + expiresIn,
                now: now
            )
        }
        return PresignData(
            url: minted.url,
            expiresIn: expiresIn,
            method: method,
            headers: signedContentType.map { ["Content-Type": $0] }
        )
    }

    /// Decodes the presign body; every way it can be wrong is a `VALIDATION_ERROR` naming the field.
    private static func decodePresign(_ body: [UInt8]) throws(Failure) -> PresignRequest {
        let expected = [
            "key": "a string", "action": "a string", "contentType": "a string", "expiresIn": "an integer",
            "maxSize": "an integer", "keyPrefix": "a boolean", "successActionRedirect": "a string",
            "successActionStatus": "an integer",
        ]
        func field(_ path: [any CodingKey]) -> String { path.first?.stringValue ?? "body" }
        func wrongType(_ path: [any CodingKey]) -> Failure {
            let name = field(path)
            guard let kind = expected[name] else {
                return Failure.validation("body", "the body must be a JSON object")
            }
            return Failure.validation(name, "\(name) must be \(kind)")
        }
        do {
            return try JSONDecoder().decode(PresignRequest.self, from: Data(body))
        } catch DecodingError.keyNotFound(let key, _) {
            throw Failure.validation(key.stringValue, "\(key.stringValue) is required")
        } catch DecodingError.valueNotFound(_, let context) {
            throw Failure.validation(field(context.codingPath), "\(field(context.codingPath)) must not be null")
        } catch DecodingError.typeMismatch(_, let context) {
            throw wrongType(context.codingPath)
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            // A number that is not an integer, or out of range.
            throw wrongType(context.codingPath)
        } catch {
            throw Failure.validation("body", "the body is not valid JSON")
        }
    }

    /// The form fields of `"post"`, validated; `nil` for another action, which must not carry them.
    private static func postOptions(_ request: PresignRequest, action: Action) throws(Failure) -> PostOptions? {
        guard action == .post else {
            let given: [(String, Bool)] = [
                ("maxSize", request.maxSize != nil), ("keyPrefix", request.keyPrefix != nil),
                ("successActionRedirect", request.successActionRedirect != nil),
                ("successActionStatus", request.successActionStatus != nil),
            ]
            if let field = given.first(where: \.1)?.0 {
                throw Failure.validation(field, "\(field) applies to \"action\": \"post\" only")
            }
            return nil
        }
        var options = PostOptions()
        options.keyIsPrefix = request.keyPrefix ?? false
        if let raw = request.maxSize {
            guard raw == raw.rounded(), raw >= 1, raw <= Double(maxPostSize) else {
                throw Failure.validation(
                    "maxSize",
                    "maxSize must be an integer number of bytes between 1 and \(maxPostSize)"
                        + " (5 GiB, S3's largest single upload)"
                )
            }
            options.maxSize = Int64(raw)
        }
        if let raw = request.successActionStatus {
            guard [200.0, 201, 204].contains(raw) else {
                throw Failure.validation("successActionStatus", "successActionStatus must be 200, 201 or 204")
            }
            options.successActionStatus = Int(raw)
        }
        if let redirect = request.successActionRedirect {
            let bytes = Array(redirect.utf8)
            let lower = redirect.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), bytes.count <= 2048,
                bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else {
                throw Failure.validation(
                    "successActionRedirect",
                    "successActionRedirect must be an absolute http(s) URL"
                        + " of at most 2048 printable ASCII characters"
                )
            }
            options.successActionRedirect = redirect
        }
        return options
    }

    /// A Content-Type goes into a header and a signature: printable ASCII, trimmed, of sane length.
    static func validateContentType(_ value: String) throws(Failure) {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= 256, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }),
            bytes.first != 0x20, bytes.last != 0x20
        else {
            throw Failure.validation(
                "contentType",
                "contentType must be 1-256 printable ASCII characters without leading or trailing spaces"
            )
        }
    }
}
