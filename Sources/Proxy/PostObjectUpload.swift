import NIOCore
import NIOHTTP1
import Verifier

/// A browser form upload (S3 POST Object) on its way through the proxy: the multipart body is parsed as it
/// arrives, the fields before the file are verified against the signed policy and the key's access policy,
/// and the file streams upstream as a `PUT` of the resulting key.
///
/// A pure state machine like `RequestBodyVerifier`: `ProxyHandler` feeds it body bytes and carries out the
/// actions. The last piece of file data is held back until the whole form has arrived and checked out:
/// earlier pieces stream ahead of the final checks (size, closing delimiter), which is safe only because a
/// failure aborts the upstream request (the proxy closes that connection before its last byte, or its final
/// chunk, is sent), so the backend discards an object it never received whole (ARCHITECTURE.md rule 2).
struct PostObjectUpload {
    /// What to do with the bytes just consumed.
    enum Action {
        /// Nothing to send yet.
        case hold
        /// Send these file bytes upstream now.
        case forward([ByteBuffer])
        /// The form is verified: open an upstream request with this head, then feed `rest` back in.
        case connect(HTTPRequestHead, rest: ByteBuffer)
        /// Abort the upstream request (if any) and answer with this error.
        case reject(S3Error)
    }

    /// S3 allows this much of the form before the file.
    static let maxFieldBytes = 20 * 1024

    let bucket: String
    let declaredLength: Int64?
    private let services: ProxyServices
    /// The client's Host, for the object's `Location`.
    private let host: String?
    private var parser: MultipartFormParser
    private var fields: [(name: String, value: String)] = []
    private(set) var verified: PostPolicy.Verified?
    /// `/bucket/key` of the object, once verified: the upstream PUT's path and the reply's location.
    private var objectPath = ""
    /// The file's size, known up front from the request's Content-Length when the file is the last part.
    private(set) var expectedSize: Int64?
    private var size: Int64 = 0
    private var fileEnded = false
    private var held: ByteBuffer?
    private var failed = false

    // MARK: - Recognising a form upload

    /// A `POST /{bucket}` with a `multipart/form-data` body and no SigV4 or V2 authentication of its own:
    /// its bucket and multipart boundary. Anything else is an ordinary S3 request.
    static func detect(_ head: HTTPRequestHead) -> (bucket: String, boundary: String)? {
        guard head.method == .POST, !head.headers.contains(name: "authorization") else { return nil }
        let s3Head = S3RequestHead(method: "POST", uri: head.uri, headers: [])
        guard s3Head.rawQuery.isEmpty else { return nil }
        var path = s3Head.rawPath.dropFirst(s3Head.rawPath.hasPrefix("/") ? 1 : 0)
        if path.hasSuffix("/") { path = path.dropLast() }
        guard !path.isEmpty, !path.contains("/") else { return nil }
        // Decoded, the bucket must still be one path segment: `%2F` or `..` would move the upstream path.
        let bucket = S3Operation.decode(path)
        guard !bucket.contains("/"), bucket != ".", bucket != ".." else { return nil }
        guard let contentType = head.headers.first(name: "content-type") else { return nil }
        let parameters = MultipartFormParser.parameters(contentType)
        guard let type = parameters.first, type.value == nil,
            asciiLowercased(type.name) == "multipart/form-data",
            let boundary = parameters.first(where: { asciiLowercased($0.name) == "boundary" })?.value,
            (1...70).contains(boundary.utf8.count)
        else { return nil }
        return (bucket, boundary)
    }

    init(bucket: String, boundary: String, head: HTTPRequestHead, declaredLength: Int64?, services: ProxyServices) {
        self.bucket = bucket
        self.declaredLength = declaredLength
        self.services = services
        self.host = head.headers.first(name: "host")
        self.parser = MultipartFormParser(boundary: boundary, maxFieldBytes: Self.maxFieldBytes)
    }

    // MARK: - Body

    mutating func consume(_ bytes: ByteBuffer) -> Action {
        guard !failed else { return .hold }
        parser.append(bytes)
        do throws(S3Error) {
            var out: [ByteBuffer] = []
            while let event = try parser.next() {
                switch event {
                case .field(let name, let value):
                    fields.append((name, value))
                case .fileStart(let filename, _, let offset):
                    let head = try start(filename: filename, offset: offset)
                    return .connect(head, rest: parser.takeUnparsed())
                case .fileData(let data):
                    size += Int64(data.readableBytes)
                    if let range = verified?.contentLengthRange, size > range.upperBound {
                        try verified?.checkLength(size)
                    }
                    if let expectedSize, size > expectedSize { throw sizeMismatch() }
                    if let previous = held { out.append(previous) }
                    held = data
                case .fileEnd:
                    fileEnded = true
                    // Parts or an epilogue after the file: the upstream Content-Length was wrong.
                    if let expectedSize, size != expectedSize { throw sizeMismatch() }
                case .end:
                    break
                }
            }
            return out.isEmpty ? .hold : .forward(out)
        } catch {
            failed = true
            held = nil
            return .reject(error)
        }
    }

    /// The client's request is complete: the held tail may go, unless the form was incomplete or the file's
    /// size is wrong.
    mutating func finish() -> RequestBodyVerifier.Result {
        guard !failed else { return .reject(S3Error(.internalError, "The request body was already refused.")) }
        failed = true
        guard parser.sawFile else {
            return .reject(
                S3Error(
                    .invalidArgument,
                    "POST requires exactly one file upload per request.",
                    details: [S3Error.Detail("ArgumentName", "file"), S3Error.Detail("ArgumentValue", "0")]
                )
            )
        }
        guard fileEnded, parser.finished else {
            return .reject(S3Error(.incompleteBody, "The request body ended before the form was complete."))
        }
        if let expectedSize, size != expectedSize { return .reject(sizeMismatch()) }
        do throws(S3Error) {
            try verified?.checkLength(size)
        } catch {
            return .reject(error)
        }
        let tail = held
        held = nil
        return .complete(tail: tail)
    }

    private func sizeMismatch() -> S3Error {
        S3Error(
            .malformedPOSTRequest,
            MultipartFormParser.malformedMessage
                + " With a Content-Length, the file must be the last part and the body must end with the closing "
                + "boundary and CRLF."
        )
    }

    // MARK: - The file starts

    /// Verifies the form, checks the key's access policy and the size, and makes the upstream head.
    private mutating func start(filename: String?, offset: Int64) throws(S3Error) -> HTTPRequestHead {
        let now = services.clock()
        let verified = try PostPolicy.verify(
            fields: fields,
            bucket: bucket,
            filename: filename,
            now: now,
            verifier: services.verifier
        )
        self.verified = verified
        guard !verified.key.isEmpty else {
            throw S3Error(
                .invalidArgument,
                "User key must have a length greater than 0.",
                details: [S3Error.Detail("ArgumentName", "key"), S3Error.Detail("ArgumentValue", "")]
            )
        }
        // The key is the browser's choice within the policy (`${filename}`, `starts-with`): a `.` or `..`
        // segment would leave the policy's prefix on a backend that normalizes paths, whatever the grant.
        guard !AccessPolicy.Grant.hasDotSegment(verified.key) else {
            throw S3Error(
                .invalidArgument,
                "A form upload's key may not have . or .. path segments.",
                details: [S3Error.Detail("ArgumentName", "key"), S3Error.Detail("ArgumentValue", verified.key)]
            )
        }
        objectPath = PresignedURL.encodePath(bucket: bucket, key: verified.key)
        try services.authorizer.authorize(
            S3Operation(
                accessKeyId: verified.accessKeyId,
                method: "PUT",
                bucket: bucket,
                key: verified.key,
                action: .write
            )
        )
        if let declaredLength {
            // The rest of the body is the file, then `CRLF--boundary--CRLF`.
            let size = declaredLength - offset - Int64(parser.boundary.count + 8)
            guard size >= 0 else { throw MultipartFormParser.malformed }
            try verified.checkLength(size)
            expectedSize = size
        }
        return try upstreamHead(verified, now: now)
    }

    /// Form fields S3 stores as the object's headers (besides `Content-Type` and `x-amz-meta-*`).
    private static let headerFields: Set<String> = [
        "cache-control", "content-disposition", "content-encoding", "expires", "x-amz-storage-class",
        "x-amz-website-redirect-location", "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-context",
        "x-amz-server-side-encryption-bucket-key-enabled", "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key-md5",
    ]

    private func upstreamHead(_ verified: PostPolicy.Verified, now: Int64) throws(S3Error) -> HTTPRequestHead {
        let rewriter = services.rewriter
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: rewriter.upstream.hostHeader)
        if let expectedSize {
            headers.add(name: "Content-Length", value: String(expectedSize))
        } else {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        // Field values become header values as they are: refuse what no header may carry (CR, LF, NUL; a
        // name that is not a token) here, as a 400, rather than have the upstream head fail as a 502.
        func add(_ name: String, _ value: String) throws(S3Error) {
            guard Self.isHeaderSafe(name: name, value: value) else {
                throw S3Error(
                    .invalidArgument,
                    "The form field \(name) cannot be sent as a header.",
                    details: [S3Error.Detail("ArgumentName", name)]
                )
            }
            headers.add(name: name, value: value)
        }
        func field(_ name: String) -> String? { verified.fields.first { $0.name == name }?.value }
        try add("Content-Type", field("content-type") ?? "binary/octet-stream")
        if let acl = field("acl") { try add("x-amz-acl", acl) }
        for (name, value) in verified.fields where name.hasPrefix("x-amz-meta-") || Self.headerFields.contains(name) {
            try add(name, value)
        }
        let uri = objectPath

        switch rewriter.mode {
        case .passthrough:
            // The backend checks signatures with the same keys: sign the PUT as the form's signer would.
            guard let credential = services.verifier.credentials.credential(forAccessKeyId: verified.accessKeyId) else {
                throw S3Error(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
            }
            if let token = credential.sessionToken { headers.add(name: "x-amz-security-token", value: token) }
            let signer = SigV4Signer(
                credentials: UpstreamCredentials(
                    accessKeyId: credential.accessKeyId,
                    secretAccessKey: credential.secretAccessKey,
                    region: verified.scope.region,
                    service: verified.scope.service
                ),
                keys: services.verifier.signingKeys
            )
            try signer.sign(method: "PUT", uri: uri, headers: &headers, payloadHash: "UNSIGNED-PAYLOAD", now: now)
        case .resign(let credentials):
            let signer = SigV4Signer(credentials: credentials, keys: services.verifier.signingKeys)
            try signer.sign(method: "PUT", uri: uri, headers: &headers, payloadHash: "UNSIGNED-PAYLOAD", now: now)
        case .trusted:
            headers.add(name: UpstreamHeadRewriter.accessKeyHeader, value: verified.accessKeyId)
        }
        return HTTPRequestHead(version: .http1_1, method: .PUT, uri: uri, headers: headers)
    }

    /// Whether a field can be a header as it is: a token for a name, no CR, LF or NUL in the value.
    static func isHeaderSafe(name: String, value: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isTokenByte) && !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        URIEncoding.isUnreserved(byte) || Array("!#$%&'*+^`|".utf8).contains(byte)
    }

    // MARK: - Response

    /// The reply for the client once the upstream stored the object, as S3 answers a form upload: 204 by
    /// default, 200 or 201 (with S3's `PostResponse` XML) when `success_action_status` asks, 303 to
    /// `success_action_redirect` with the bucket, key and ETag. `nil` for an upstream error, which goes to
    /// the client as it came.
    func reply(
        to upstream: HTTPResponseHead,
        requestId: String,
        scheme: String = "http"
    ) -> (head: HTTPResponseHead, body: ByteBuffer)? {
        guard (200..<300).contains(upstream.status.code), let verified else { return nil }
        let etag = upstream.headers.first(name: "etag") ?? ""
        func field(_ name: String) -> String? { verified.fields.first { $0.name == name }?.value }
        let location = host.map { "\(scheme)://\($0)\(objectPath)" } ?? objectPath

        var headers = HTTPHeaders()
        headers.add(name: "x-amz-request-id", value: upstream.headers.first(name: "x-amz-request-id") ?? requestId)
        headers.add(name: "Server", value: "s3-sidecar")
        if !etag.isEmpty { headers.add(name: "ETag", value: etag) }
        var body = ""
        let status: HTTPResponseStatus
        if let redirect = field("success_action_redirect") ?? field("redirect"), Self.isRedirectURL(redirect) {
            status = .seeOther
            let query =
                "bucket=\(PresignedURL.encode(bucket))&key=\(PresignedURL.encode(verified.key))"
                + "&etag=\(PresignedURL.encode(etag))"
            headers.add(name: "Location", value: redirect + (redirect.contains("?") ? "&" : "?") + query)
        } else {
            switch field("success_action_status") {
            case "200":
                status = .ok
            case "201":
                status = .created
                headers.add(name: "Content-Type", value: "application/xml")
                body =
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>"
                    + "<Location>\(xmlEscaped(location))</Location><Bucket>\(xmlEscaped(bucket))</Bucket>"
                    + "<Key>\(xmlEscaped(verified.key))</Key><ETag>\(xmlEscaped(etag))</ETag></PostResponse>"
            default:
                status = .noContent
            }
            headers.add(name: "Location", value: location)
        }
        if status != .noContent { headers.add(name: "Content-Length", value: String(body.utf8.count)) }
        return (HTTPResponseHead(version: .http1_1, status: status, headers: headers), ByteBuffer(string: body))
    }

    private static func isRedirectURL(_ text: String) -> Bool {
        let lower = asciiLowercased(text)
        return (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && !text.contains(where: \.isNewline)
            && isHeaderSafe(name: "Location", value: text)
    }

}
