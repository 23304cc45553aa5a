import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
import Verifier

@testable import Proxy

/// The presign API's contract, on its logic alone: a frozen clock, an in-memory limiter, no network.
@Suite("Presign API")
struct PresignAPITests {
    static let secret = "presign/Secret+Key=="
    static let credential = Credential(accessKeyId: "AKPRESIGN", secretAccessKey: secret)
    static let limited = Credential(accessKeyId: "AKLIMITED", secretAccessKey: "limited-secret")
    /// 2026-02-10T00:00:00Z.
    static let start: Int64 = 1_770_681_600_000
    static let base = PresignAPI.PublicURL(scheme: "https", host: "files.example.com")

    final class Clock: Sendable {
        let millis: Mutex<Int64>
        init(_ start: Int64) { millis = Mutex(start) }
        func advance(_ ms: Int64) { millis.withLock { $0 += ms } }
        var now: Int64 { millis.withLock { $0 } }
    }

    static func makeAPI(clock: Clock = Clock(start), perMinute: Int = 60) -> PresignAPI {
        let policies = [
            "AKLIMITED": AccessPolicy(grants: [
                .init(bucket: "photos", prefix: "uploads/", actions: [.write, .list]),
                .init(bucket: "photos", prefix: "public/", actions: [.read]),
            ])
        ]
        let keys = ReloadableKeys(
            .init(
                credentials: [credential, limited],
                policies: policies,
                apiKeys: [
                    APIKey(apiKey: "app-key", accessKeyId: "AKPRESIGN", presignPerMinute: perMinute),
                    APIKey(apiKey: "limited-key", accessKeyId: "AKLIMITED"),
                ]
            )
        )
        return PresignAPI(
            configuration: .init(publicURL: base, region: "us-east-1"),
            apiKeys: keys,
            credentials: keys,
            authorizer: keys,
            limiter: TokenBucketRateLimiter(),
            clock: { clock.now }
        )
    }

    static func presign(
        _ api: PresignAPI,
        _ body: String,
        key: String? = "app-key",
        bucket: String = "f13"
    ) -> (PresignAPIResponse, [String: Any]) {
        let response = api.presign(
            bucket: bucket,
            presentedKey: key,
            body: Array(body.utf8),
            fallbackURL: .init(scheme: "http", host: "127.0.0.1:8080"),
            requestId: "00000000-0000-4000-8000-000000000000"
        )
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        return (response, json)
    }

    static func header(_ response: PresignAPIResponse, _ name: String) -> String? {
        response.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    static func verify(
        _ url: String,
        method: String,
        headers: [(String, String)] = [],
        at seconds: Int64
    ) throws(S3Error)
        -> AuthenticatedRequest
    {
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        let host = String(parts[2])
        let target = "/" + parts[3]
        let verifier = SigV4Verifier(credentials: InMemoryCredentialStore([credential, limited]))
        let head = S3RequestHead(method: method, uri: target, headers: [("Host", host)] + headers.map { ($0.0, $0.1) })
        return try verifier.authenticate(head, now: seconds)
    }

    // MARK: - 200

    @Test("an upload URL has the contract's envelope, signs only host and content-type, and verifies")
    func uploadURLVerifies() throws {
        let api = Self.makeAPI()
        let (response, json) = Self.presign(
            api,
            #"{"key": "Avi__2791887.pdf", "action": "upload", "contentType": "application/pdf", "expiresIn": 900}"#
        )
        #expect(response.status == .ok)
        #expect(json["success"] as? Bool == true)
        #expect(json["timestamp"] as? String == "2026-02-10T00:00:00.000Z")
        #expect(json["requestId"] as? String == "00000000-0000-4000-8000-000000000000")
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["expiresIn"] as? Int == 900)
        let url = try #require(data["url"] as? String)
        #expect(url.hasPrefix("https://files.example.com/f13/Avi__2791887.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256&"))
        #expect(url.contains("X-Amz-Credential=AKPRESIGN%2F20260210%2Fus-east-1%2Fs3%2Faws4_request"))
        #expect(
            url.contains(
                "X-Amz-Date=20260210T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Signature="
            )
        )
        #expect(!url.lowercased().contains("checksum"))
        let auth = try Self.verify(
            url,
            method: "PUT",
            headers: [("Content-Type", "application/pdf")],
            at: Self.start / 1000 + 10
        )
        #expect(auth.accessKeyId == "AKPRESIGN")
        #expect(auth.signedHeaders == ["content-type", "host"])
        #expect(auth.payload == .unsigned)
        #expect(Self.header(response, "X-RateLimit-Limit") == "60")
        #expect(Self.header(response, "X-RateLimit-Remaining") == "59")
    }

    @Test("a download URL signs only host, uses the default expiry, and verifies; it expires when it says")
    func downloadURLVerifies() throws {
        let api = Self.makeAPI()
        let (response, json) = Self.presign(api, #"{"key": "dir/a file+ü.txt", "action": "download"}"#)
        #expect(response.status == .ok)
        let data = try #require(json["data"] as? [String: Any])
        #expect(data["expiresIn"] as? Int == 900)
        let url = try #require(data["url"] as? String)
        #expect(url.hasPrefix("https://files.example.com/f13/dir/a%20file%2B%C3%BC.txt?"))
        #expect(url.contains("X-Amz-SignedHeaders=host&"))
        _ = try Self.verify(url, method: "GET", at: Self.start / 1000 + 900)
        #expect(throws: S3Error.self) { try Self.verify(url, method: "GET", at: Self.start / 1000 + 901) }
        #expect(throws: S3Error.self) { try Self.verify(url, method: "PUT", at: Self.start / 1000) }
    }

    @Test("without a public URL, URLs use the listen address the request came in on")
    func fallbackBase() throws {
        let keys = InMemoryAPIKeyStore([APIKey(apiKey: "k", accessKeyId: "AKPRESIGN")])
        let api = PresignAPI(
            configuration: .init(region: "us-east-1"),
            apiKeys: keys,
            credentials: InMemoryCredentialStore([Self.credential]),
            authorizer: AllowAllAuthorizer(),
            clock: { Self.start }
        )
        let (_, json) = Self.presign(api, #"{"key": "k", "action": "download"}"#, key: "k")
        let url = try #require((json["data"] as? [String: Any])?["url"] as? String)
        #expect(url.hasPrefix("http://127.0.0.1:8080/f13/k?"))
    }

    @Test("a PUT with another Content-Type fails as S3 would, and the error names the expected type")
    func wrongContentTypeIsExplained() throws {
        let api = Self.makeAPI()
        let (_, json) = Self.presign(api, #"{"key": "a.pdf", "action": "upload", "contentType": "application/pdf"}"#)
        let url = try #require((json["data"] as? [String: Any])?["url"] as? String)
        let now = Self.start / 1000 + 5
        do {
            _ = try Self.verify(url, method: "PUT", headers: [("Content-Type", "text/plain")], at: now)
            Issue.record("a wrong Content-Type verified")
        } catch {
            #expect(error.code == .signatureDoesNotMatch)
            let target = "/" + url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)[3]
            let head = S3RequestHead(method: "PUT", uri: target, headers: [("Content-Type", "text/plain")])
            let explained = api.mintedUploads.explain(error, head: head, now: now)
            #expect(explained.code == .signatureDoesNotMatch)
            #expect(explained.message.contains("\"application/pdf\""))
            #expect(explained.message.contains("\"text/plain\""))
            // A URL it did not mint, or one expired, keeps S3's words.
            #expect(api.mintedUploads.explain(error, head: head, now: now + 901).message == error.message)
        }
    }

    // MARK: - 401 / 403

    @Test("a missing or unknown API key is 401 UNAUTHORIZED")
    func unauthorized() {
        let api = Self.makeAPI()
        for key in [nil, "", "nope"] {
            let (response, json) = Self.presign(api, #"{"key": "k", "action": "upload"}"#, key: key)
            #expect(response.status == .unauthorized)
            #expect(json["success"] as? Bool == false)
            #expect(json["code"] as? String == "UNAUTHORIZED")
            #expect(json["error"] as? String == "Unauthorized")
            #expect(json["requestId"] as? String != nil)
            #expect((json["message"] as? String)?.isEmpty == false)
        }
    }

    @Test("an API key whose access key is disabled or gone is 403 FORBIDDEN")
    func disabledAccessKey() {
        let api = PresignAPI(
            configuration: .init(region: "us-east-1"),
            apiKeys: InMemoryAPIKeyStore([APIKey(apiKey: "orphan", accessKeyId: "AKGONE")]),
            credentials: InMemoryCredentialStore([Self.credential]),
            authorizer: AllowAllAuthorizer(),
            clock: { Self.start }
        )
        let (response, json) = Self.presign(api, #"{"key": "k", "action": "upload"}"#, key: "orphan")
        #expect(response.status == .forbidden)
        #expect(json["code"] as? String == "FORBIDDEN")
    }

    @Test("an action, bucket or prefix outside the key's policy is 403 FORBIDDEN")
    func forbidden() {
        let api = Self.makeAPI()
        let cases: [(String, String, HTTPResponseStatus)] = [
            ("photos", #"{"key": "uploads/a.jpg", "action": "upload"}"#, .ok),
            ("photos", #"{"key": "public/a.jpg", "action": "download"}"#, .ok),
            ("photos", #"{"key": "uploads/a.jpg", "action": "download"}"#, .forbidden),
            ("photos", #"{"key": "public/a.jpg", "action": "upload"}"#, .forbidden),
            ("photos", #"{"key": "other/a.jpg", "action": "upload"}"#, .forbidden),
            ("videos", #"{"key": "uploads/a.jpg", "action": "upload"}"#, .forbidden),
        ]
        for (bucket, body, status) in cases {
            let (response, json) = Self.presign(api, body, key: "limited-key", bucket: bucket)
            #expect(response.status == status, "\(bucket) \(body)")
            if status == .forbidden {
                #expect(json["code"] as? String == "FORBIDDEN")
                #expect(json["error"] as? String == "Forbidden")
            }
        }
    }

    // MARK: - 400

    @Test(
        "bad bodies are 400 VALIDATION_ERROR naming the field, never a 500",
        arguments: [
            ("{not json", "body"),
            ("", "body"),
            ("[1, 2]", "body"),
            ("\"text\"", "body"),
            (#"{"action": "upload"}"#, "key"),
            (#"{"key": "k"}"#, "action"),
            (#"{"key": 5, "action": "upload"}"#, "key"),
            (#"{"key": null, "action": "upload"}"#, "key"),
            (#"{"key": "k", "action": ["upload"]}"#, "action"),
            (#"{"key": "k", "action": "delete"}"#, "action"),
            (#"{"key": "k", "action": "UPLOAD"}"#, "action"),
            (#"{"key": "", "action": "upload"}"#, "key"),
            (#"{"key": "k", "action": "upload", "contentType": 7}"#, "contentType"),
            (#"{"key": "k", "action": "upload", "contentType": ""}"#, "contentType"),
            (#"{"key": "k", "action": "upload", "contentType": "a\nb"}"#, "contentType"),
            (#"{"key": "k", "action": "upload", "expiresIn": "900"}"#, "expiresIn"),
            (#"{"key": "k", "action": "upload", "expiresIn": 1.5}"#, "expiresIn"),
            (#"{"key": "k", "action": "upload", "expiresIn": 1e30}"#, "expiresIn"),
            (#"{"key": "k", "action": "upload", "expiresIn": true}"#, "expiresIn"),
            (#"{"key": "k", "action": "upload", "expiresIn": 0}"#, "expiresIn"),
            (#"{"key": "k", "action": "upload", "expiresIn": -5}"#, "expiresIn"),
            (#"{"key": "k", "action": "upload", "expiresIn": 604801}"#, "expiresIn"),
        ]
    )
    func validation(body: String, field: String) {
        let (response, json) = Self.presign(Self.makeAPI(), body)
        #expect(response.status == .badRequest, "\(body)")
        #expect(json["code"] as? String == "VALIDATION_ERROR")
        #expect(json["error"] as? String == "Bad Request")
        #expect(json["field"] as? String == field, "\(body)")
        #expect((json["message"] as? String)?.contains(field) == true, "\(body)")
    }

    @Test("keys are bounded as S3 bounds them: 1024 bytes of UTF-8 pass, 1025 do not")
    func keyLength() {
        let api = Self.makeAPI()
        let fits = String(repeating: "ü", count: 512)  // 1024 bytes
        #expect(Self.presign(api, #"{"key": "\#(fits)", "action": "upload"}"#).0.status == .ok)
        let tooLong = fits + "a"
        let (response, json) = Self.presign(api, #"{"key": "\#(tooLong)", "action": "upload"}"#)
        #expect(response.status == .badRequest)
        #expect(json["field"] as? String == "key")
        #expect(Self.presign(api, #"{"key": "k", "action": "upload", "expiresIn": 604800}"#).0.status == .ok)
    }

    @Test("a bucket name S3 would refuse is a VALIDATION_ERROR naming bucket")
    func badBucket() {
        for bucket in ["ab", "Upper", "-x-", String(repeating: "a", count: 64), "a_b"] {
            let (response, json) = Self.presign(Self.makeAPI(), #"{"key": "k", "action": "upload"}"#, bucket: bucket)
            #expect(response.status == .badRequest, "\(bucket)")
            #expect(json["field"] as? String == "bucket")
        }
    }

    // MARK: - 429

    @Test("the 61st request in a minute is 429 with Retry-After, and the bucket refills")
    func rateLimit() throws {
        let clock = Clock(Self.start)
        let api = Self.makeAPI(clock: clock)
        let body = #"{"key": "k", "action": "download"}"#
        for i in 0..<60 {
            let (response, _) = Self.presign(api, body)
            #expect(response.status == .ok, "request \(i + 1)")
            #expect(Self.header(response, "X-RateLimit-Remaining") == String(59 - i))
            clock.advance(10)
        }
        let (refused, json) = Self.presign(api, body)
        #expect(refused.status == .tooManyRequests)
        #expect(json["code"] as? String == "RATE_LIMITED")
        #expect(json["error"] as? String == "Too Many Requests")
        let retry = try #require(Self.header(refused, "Retry-After").flatMap(Int.init))
        #expect(retry >= 1 && retry <= 60)
        #expect(Self.header(refused, "X-RateLimit-Remaining") == "0")
        #expect(Self.header(refused, "X-RateLimit-Limit") == "60")
        // Refused requests take nothing: after Retry-After one more is allowed, and only one.
        clock.advance(Int64(retry) * 1000)
        #expect(Self.presign(api, body).0.status == .ok)
        #expect(Self.presign(api, body).0.status == .tooManyRequests)
        // A full minute refills the bucket.
        clock.advance(60_000)
        for _ in 0..<60 { #expect(Self.presign(api, body).0.status == .ok) }
        #expect(Self.presign(api, body).0.status == .tooManyRequests)
        // Another API key has its own bucket.
        #expect(
            Self.presign(api, #"{"key": "uploads/k", "action": "upload"}"#, key: "limited-key", bucket: "photos").0
                .status == .ok
        )
    }

    @Test("a token bucket of 120 a minute allows one request every half second after its burst")
    func tokenBucket() {
        let limiter = TokenBucketRateLimiter()
        for _ in 0..<120 { #expect(limiter.consume(id: "x", perMinute: 120, nowMillis: 0).allowed) }
        let refused = limiter.consume(id: "x", perMinute: 120, nowMillis: 0)
        #expect(!refused.allowed)
        #expect(refused.retryAfterSeconds == 1)
        #expect(refused.resetSeconds == 60)
        #expect(!limiter.consume(id: "x", perMinute: 120, nowMillis: 499).allowed)
        #expect(limiter.consume(id: "x", perMinute: 120, nowMillis: 500).allowed)
        // A limit lowered by a reload takes effect at once.
        #expect(limiter.consume(id: "y", perMinute: 120, nowMillis: 0).remaining == 119)
        #expect(limiter.consume(id: "y", perMinute: 2, nowMillis: 0).remaining == 1)
    }

    // MARK: - Listing

    @Test("a listing asks ListObjectsV2 with the prefix, cursor and limit, encoded")
    func listingPlan() throws {
        let api = Self.makeAPI()
        let plan = try api.planListing(
            bucket: "photos",
            presentedKey: "limited-key",
            rawQuery: "prefix=uploads%2Fa%20b&cursor=tok%2Fen%3D%3D&limit=2",
            requestId: "r"
        ).get()
        #expect(
            plan.upstreamURI
                == "/photos?list-type=2&max-keys=2&prefix=uploads%2Fa%20b&continuation-token=tok%2Fen%3D%3D"
        )
        #expect(plan.credential.accessKeyId == "AKLIMITED")
    }

    @Test(
        "listing refusals: key, policy and parameters",
        arguments: [
            ("app-key", "limit=0", "VALIDATION_ERROR"), ("app-key", "limit=1001", "VALIDATION_ERROR"),
            ("app-key", "limit=ten", "VALIDATION_ERROR"), ("app-key", "cursor=", "VALIDATION_ERROR"),
            ("app-key", "prefix=%zz", "VALIDATION_ERROR"), ("nope", "", "UNAUTHORIZED"),
            ("limited-key", "prefix=public/", "FORBIDDEN"), ("limited-key", "", "FORBIDDEN"),
        ]
    )
    func listingRefusals(key: String, query: String, code: String) throws {
        let result = Self.makeAPI().planListing(
            bucket: "photos",
            presentedKey: key,
            rawQuery: query[...],
            requestId: "r"
        )
        guard case .answer(let response) = result else {
            Issue.record("\(key) \(query) was accepted")
            return
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(json["code"] as? String == code)
    }

    @Test("ListObjectsV2 XML becomes objects and a cursor; the last page has a null cursor")
    func listingResponse() throws {
        let api = Self.makeAPI()
        let plan = try api.planListing(bucket: "photos", presentedKey: "app-key", rawQuery: "", requestId: "r").get()
        let page = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>photos</Name><Prefix></Prefix>\
            <KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>\
            <Contents><Key>a &amp; b.txt</Key><LastModified>2026-02-09T10:00:00.000Z</LastModified>\
            <ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>\
            <Contents><Key>c.txt</Key><LastModified>2026-02-09T11:00:00.000Z</LastModified><ETag>"def"</ETag>\
            <Size>0</Size></Contents><NextContinuationToken>next/token==</NextContinuationToken></ListBucketResult>
            """
        let response = api.listingResponse(plan, status: .ok, body: Array(page.utf8), requestId: "r")
        #expect(response.status == .ok)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let data = try #require(json["data"] as? [String: Any])
        let objects = try #require(data["objects"] as? [[String: Any]])
        #expect(objects.count == 2)
        #expect(objects[0]["key"] as? String == "a & b.txt")
        #expect(objects[0]["size"] as? Int == 12)
        #expect(objects[0]["etag"] as? String == "abc")
        #expect(objects[0]["lastModified"] as? String == "2026-02-09T10:00:00.000Z")
        #expect(data["nextCursor"] as? String == "next/token==")
        #expect(data["isTruncated"] as? Bool == true)

        let last = page.replacingOccurrences(of: "<IsTruncated>true", with: "<IsTruncated>false")
            .replacingOccurrences(of: "<NextContinuationToken>next/token==</NextContinuationToken>", with: "")
        let lastResponse = api.listingResponse(plan, status: .ok, body: Array(last.utf8), requestId: "r")
        let lastText = String(decoding: lastResponse.body, as: UTF8.self)
        #expect(lastText.contains(#""nextCursor":null"#))
    }

    @Test("upstream errors map to the envelope: NoSuchBucket is 404, others 502, garbage is 502")
    func listingUpstreamErrors() throws {
        let api = Self.makeAPI()
        let plan = try api.planListing(bucket: "photos", presentedKey: "app-key", rawQuery: "", requestId: "r").get()
        let missing = "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>"
        #expect(
            api.listingResponse(plan, status: .notFound, body: Array(missing.utf8), requestId: "r").status == .notFound
        )
        let denied = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        #expect(
            api.listingResponse(plan, status: .forbidden, body: Array(denied.utf8), requestId: "r").status
                == .badGateway
        )
        #expect(
            api.listingResponse(plan, status: .ok, body: Array("not xml".utf8), requestId: "r").status == .badGateway
        )
        #expect(api.listingUnavailable(.connectTimeout, requestId: "r").status == .badGateway)
    }

    // MARK: - Routing

    @Test("routes: unknown paths are 404, wrong methods 405 with Allow")
    func routes() throws {
        #expect(
            try PresignAPI.route(method: .POST, uri: "/api/object-storage/buckets/f13/presign").get()
                == .presign(bucket: "f13")
        )
        #expect(
            try PresignAPI.route(method: .GET, uri: "/api/object-storage/buckets/f1%33/objects?limit=2").get()
                == .listObjects(bucket: "f13")
        )
        guard
            case .failure(let wrongMethod) = PresignAPI.route(
                method: .GET,
                uri: "/api/object-storage/buckets/f13/presign"
            )
        else {
            Issue.record("GET presign routed")
            return
        }
        #expect(wrongMethod.code == .methodNotAllowed)
        #expect(wrongMethod.headers.contains { $0 == ("Allow", "POST") })
        for uri in [
            "/api/object-storage/", "/api/object-storage/buckets//presign", "/api/object-storage/buckets/f13/x",
        ] {
            guard case .failure(let failure) = PresignAPI.route(method: .POST, uri: uri) else {
                Issue.record("\(uri) routed")
                continue
            }
            #expect(failure.code == .notFound)
        }
    }

    @Test("an unreachable backend is named in S3's words, without the upstream's address or TLS details")
    func listingUnavailableHidesDetails() throws {
        let response = Self.makeAPI().listingUnavailable(.connectFailed("connect to 10.1.2.3:9000: TLS handshake"), requestId: "r")
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(response.status.code >= 500)
        #expect(text.contains("could not connect to the upstream backend"))
        #expect(!text.contains("10.1.2.3"))
        #expect(!text.contains("TLS"))
    }

    @Test("without a public URL, minted URLs name the listener: https on TLS, the port only when not the default")
    func fallbackURL() throws {
        let v4 = try SocketAddress(ipAddress: "10.0.0.5", port: 8443)
        #expect(PresignAPIHandler.fallbackURL(localAddress: v4, tls: true).description == "https://10.0.0.5:8443")
        #expect(PresignAPIHandler.fallbackURL(localAddress: v4, tls: false).description == "http://10.0.0.5:8443")
        let standard = try SocketAddress(ipAddress: "10.0.0.5", port: 443)
        #expect(PresignAPIHandler.fallbackURL(localAddress: standard, tls: true).description == "https://10.0.0.5")
        let plain = try SocketAddress(ipAddress: "::1", port: 80)
        #expect(PresignAPIHandler.fallbackURL(localAddress: plain, tls: false).description == "http://[::1]")
    }

    @Test("timestamps are ISO 8601 with milliseconds in UTC")
    func timestamps() {
        #expect(PresignAPIResponse.timestamp(1_770_681_600_000) == "2026-02-10T00:00:00.000Z")
        #expect(PresignAPIResponse.timestamp(1_770_681_600_042) == "2026-02-10T00:00:00.042Z")
        #expect(PresignAPIResponse.timestamp(951_782_400_999) == "2000-02-29T00:00:00.999Z")
    }

    // MARK: - Minted uploads table

    @Test("the same URL minted again is one entry: the eviction order does not grow with it")
    func mintedUploadsRepeated() {
        let table = MintedUploads(capacity: 10)
        for _ in 0..<1000 { table.remember(signature: "same", contentType: "t/a", expiresAt: 100, now: 0) }
        #expect(table.count == 1)
        #expect(table.orderCount == 1)
        for i in 0..<100 { table.remember(signature: "s\(i)", contentType: "t/a", expiresAt: 100, now: 0) }
        #expect(table.count <= 10)
        #expect(table.orderCount == table.count)
        #expect(table.expectedContentType(signature: "s99", now: 0) == "t/a", "the newest stays")
    }

    @Test("the minted-uploads table stays bounded, dropping expired entries first, then the oldest")
    func mintedUploadsBounded() {
        let table = MintedUploads(capacity: 3)
        table.remember(signature: "a", contentType: "t/a", expiresAt: 10, now: 0)
        table.remember(signature: "b", contentType: "t/b", expiresAt: 100, now: 0)
        table.remember(signature: "c", contentType: "t/c", expiresAt: 100, now: 0)
        table.remember(signature: "d", contentType: "t/d", expiresAt: 100, now: 50)  // "a" has expired
        #expect(table.count == 3)
        #expect(table.expectedContentType(signature: "a", now: 50) == nil)
        table.remember(signature: "e", contentType: "t/e", expiresAt: 100, now: 50)  // none expired: "b" goes
        #expect(table.count == 3)
        #expect(table.expectedContentType(signature: "b", now: 50) == nil)
        #expect(table.expectedContentType(signature: "e", now: 50) == "t/e")
        #expect(table.expectedContentType(signature: "e", now: 101) == nil)
    }
}

/// Which origins CORS allows.
@Suite("CORS origins")
struct CORSOriginTests {
    @Test(
        "exact, wildcard sub-domain, scheme-less and * patterns",
        arguments: [
            (["https://app.example.com"], "https://app.example.com", true),
            (["https://app.example.com"], "http://app.example.com", false),
            (["https://app.example.com"], "https://app.example.com:8443", false),
            (["https://*.example.com"], "https://a.b.example.com", true),
            (["https://*.example.com"], "https://example.com", false),
            (["https://*.example.com"], "https://evilexample.com", false),
            (["https://*.example.com"], "http://a.example.com", false),
            (["*.example.com"], "http://a.example.com", true),
            (["app.example.com"], "https://APP.example.com", true),
            (["http://127.0.0.1:8000"], "http://127.0.0.1:8000", true),
            (["http://127.0.0.1:8000"], "http://127.0.0.1:8001", false),
            (["*"], "https://anything.test", true),
            (["https://a.test"], "null", false),
        ]
    )
    func origins(patterns: [String], origin: String, allowed: Bool) {
        #expect(CORSConfiguration(allowedOrigins: patterns).allows(origin: origin) == allowed)
    }
}

extension PresignAPI.ListingStep {
    /// The plan; a test fails here when the listing was answered at once instead.
    func get() throws -> PresignAPI.ListingPlan {
        try #require({ if case .fetch(let plan) = self { plan } else { nil } }())
    }
}

