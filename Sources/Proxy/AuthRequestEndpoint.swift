import Crypto
import NIOCore
import Verifier

/// The verdict logic of the nginx `auth_request` target (`/auth` on the admin listener).
///
/// nginx sends a body-less subrequest carrying the client's headers plus `X-Original-Method` and
/// `X-Original-URI` (`$request_uri`, the raw target). This rebuilds the client's request from them, runs the
/// same verifier and policy as the proxy, and answers:
/// - 200 with `X-Sidecar-Access-Key` when the request may pass;
/// - 401 when it carries no credentials at all;
/// - 403 for every other refusal. nginx honours only 2xx, 401 and 403 from the subrequest, so the real S3
///   verdict travels in `X-S3-Error-Code`, `X-S3-Error-Status`, `X-S3-Error-Message` and
///   `X-S3-Error-Body` (S3's XML error on one line), which the shipped nginx config turns back into the
///   client's reply.
///
/// The body never reaches this endpoint, so its hash cannot be checked here: the backend must check it, or
/// `requireUnsignedPayload` refuses every request whose signature covers a body that is not known to be empty.
public struct AuthRequestEndpoint: Sendable {
    public struct Configuration: Sendable {
        /// Refuse requests that carry a body under a signed payload hash (hex or aws-chunked): only
        /// `UNSIGNED-PAYLOAD` (which presigned URLs always use) or a known-empty body pass.
        public var requireUnsignedPayload: Bool

        public init(requireUnsignedPayload: Bool = false) {
            self.requireUnsignedPayload = requireUnsignedPayload
        }
    }

    /// What to answer nginx with. The body is always empty.
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var headers: [Header]

        public struct Header: Sendable, Equatable {
            public var name: String
            public var value: String
        }

        /// The first value of `name` (exact spelling), if any.
        public func header(_ name: String) -> String? {
            headers.first { $0.name == name }?.value
        }
    }

    /// The headers nginx adds to describe the original request; they are not part of it.
    static let originalMethod = "x-original-method"
    static let originalURI = "x-original-uri"
    static let originalContentLength = "x-original-content-length"
    static let originalTransferEncoding = "x-original-transfer-encoding"

    /// An error body larger than this goes without its diagnostic elements: it must fit in one response header
    /// within nginx's `proxy_buffer_size`.
    static let maxErrorBodyHeader = 6 * 1024

    private let verifier: SigV4Verifier
    private let authorizer: any RequestAuthorizer
    private let configuration: Configuration
    private let clock: @Sendable () -> Int64
    private let accessLog: AccessLog

    /// - Parameters:
    ///   - verifier, authorizer: the proxy's own instances, so that a reload applies here too.
    ///   - accessLog: gets one `auth_request` line per verdict (not counted as proxied requests).
    public init(
        verifier: SigV4Verifier,
        authorizer: any RequestAuthorizer,
        configuration: Configuration = .init(),
        clock: @escaping @Sendable () -> Int64 = ProxyServer.wallClock,
        accessLog: AccessLog = AccessLog(logger: nil)
    ) {
        self.verifier = verifier
        self.authorizer = authorizer
        self.configuration = configuration
        self.clock = clock
        self.accessLog = accessLog
    }

    /// Judges one subrequest, given its headers in the order received, under a fresh request id.
    ///
    /// - Parameter peer: who asked (nginx), for the access log.
    public func respond(to headers: [(name: String, value: String)], peer: SocketAddress? = nil) -> Response {
        respond(to: headers, requestId: RequestID.make(), peer: peer)
    }

    /// Judges one subrequest, given its headers in the order received.
    public func respond(
        to headers: [(name: String, value: String)],
        requestId: String,
        peer: SocketAddress? = nil
    ) -> Response {
        var record = AccessLog.Record(
            requestId: requestId,
            peer: peer,
            method: "",
            uri: "",
            started: .now()
        )
        let response = judge(headers, requestId: requestId, record: &record)
        let s3Status = response.header("X-S3-Error-Status").flatMap { Int($0) } ?? response.status
        record.finish(response.status == 200 ? .authorized : .refused, status: s3Status, now: .now())
        record.errorCode = response.header("X-S3-Error-Code")
        accessLog.writeVerdict(record)
        return response
    }

    private func judge(
        _ headers: [(name: String, value: String)],
        requestId: String,
        record: inout AccessLog.Record
    ) -> Response {
        var method: String?
        var uri: String?
        var contentLength: String?
        var transferEncoding: String?
        var original: [(name: String, value: String)] = []
        original.reserveCapacity(headers.count)
        for (name, value) in headers {
            switch asciiLowercased(name) {
            case Self.originalMethod: method = value
            case Self.originalURI: uri = value
            case Self.originalContentLength: contentLength = value
            case Self.originalTransferEncoding: transferEncoding = value
            // The subrequest's own framing and connection headers are nginx's, not the client's.
            case "content-length", "transfer-encoding", "connection", "keep-alive": break
            default: original.append((name, value))
            }
        }
        guard let method, !method.isEmpty, let uri, uri.hasPrefix("/") else {
            return refuse(
                S3Error(
                    .internalError,
                    "The auth_request subrequest lacks X-Original-Method or X-Original-URI: check the proxy's "
                        + "configuration."
                ),
                resource: nil,
                requestId: requestId,
                anonymous: false
            )
        }
        if let contentLength { original.append(("Content-Length", contentLength)) }
        if let transferEncoding { original.append(("Transfer-Encoding", transferEncoding)) }
        let head = S3RequestHead(method: method, uri: uri, headers: original)
        let resource = ProxyHandler.resource(of: uri)
        record.method = method
        record.uri = uri

        do throws(S3Error) {
            // What the proxy would refuse to forward, nginx must not forward either.
            let hasBody = transferEncoding != nil || (contentLength.flatMap { Int64($0) } ?? 0) > 0
            try ForwardingRules.checkHead(head, hasBody: hasBody)
            let auth = try verifier.authenticate(head, now: clock())
            record.authenticated(auth)
            ProxyMetrics.authenticated(auth)
            try ForwardingRules.checkSigned(head, signed: ForwardingRules.signedHeaderNames(auth, headers: head.headers))
            try checkPayload(auth, method: method, contentLength: contentLength, transferEncoding: transferEncoding)
            let operation = S3Operation(accessKeyId: auth.accessKeyId, head: head)
            record.classified(operation)
            try authorizer.authorize(operation)
            ProxyMetrics.authRequestVerdict(200)
            return Response(
                status: 200,
                headers: [
                    .init(name: "X-Sidecar-Access-Key", value: auth.accessKeyId),
                    .init(name: "X-Sidecar-Auth-Form", value: auth.form.rawValue),
                    .init(name: "X-Sidecar-Signature-Version", value: "\(auth.signatureVersion.rawValue)"),
                    .init(name: "X-Amz-Request-Id", value: requestId),
                ]
            )
        } catch {
            return refuse(error, resource: resource, requestId: requestId, anonymous: SigV4Verifier.isAnonymous(head))
        }
    }

    /// The body is not here: a body-less request's signed hash is checked against the empty body; any other
    /// signed hash is left to the backend, or refused under `requireUnsignedPayload`.
    private func checkPayload(
        _ auth: AuthenticatedRequest,
        method: String,
        contentLength: String?,
        transferEncoding: String?
    ) throws(S3Error) {
        // Known empty: a declared length of 0, or a GET/HEAD with no framing at all. A missing
        // X-Original-Content-Length on other methods means "unknown" (nginx drops empty header values).
        let knownEmpty =
            transferEncoding == nil
            && (contentLength == "0" || contentLength == nil && (method == "GET" || method == "HEAD"))
        switch auth.payload {
        case .unsigned:
            return
        case .sha256(let hash) where knownEmpty:
            if hash != Self.emptySHA256 {
                throw S3Error(
                    .xAmzContentSHA256Mismatch,
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                )
            }
        case .sha256, .streaming:
            if configuration.requireUnsignedPayload {
                throw S3Error(
                    .accessDenied,
                    "This endpoint accepts only UNSIGNED-PAYLOAD request bodies: the payload hash cannot be checked "
                        + "here."
                )
            }
        }
    }

    private static let emptySHA256 = Array(SHA256.hash(data: [UInt8]()))

    private func refuse(_ error: S3Error, resource: String?, requestId: String, anonymous: Bool) -> Response {
        ProxyMetrics.authFailed(error.code)
        let status = anonymous ? 401 : 403
        ProxyMetrics.authRequestVerdict(status)
        var body = Self.oneLine(error.xmlBody(resource: resource, requestId: requestId))
        if body.utf8.count > Self.maxErrorBodyHeader {
            var bare = error
            bare.details = []
            body = Self.oneLine(bare.xmlBody(resource: resource, requestId: requestId))
        }
        return Response(
            status: status,
            headers: [
                .init(name: "X-S3-Error-Code", value: error.code.s3Code),
                .init(name: "X-S3-Error-Status", value: "\(error.httpStatus)"),
                .init(name: "X-S3-Error-Message", value: Self.headerSafe(error.message)),
                .init(name: "X-S3-Error-Body", value: body),
                .init(name: "X-Amz-Request-Id", value: requestId),
            ]
        )
    }

    /// The XML body fit for one header value: line breaks (only ever inside element text, where the character
    /// reference means the same) become `&#10;`/`&#13;`, and tabs `&#9;`.
    static func oneLine(_ xml: String) -> String {
        var out = ""
        out.reserveCapacity(xml.utf8.count)
        // The break after the XML declaration is outside any element, where a character reference is not allowed.
        let xml = xml.replacing("?>\n<", with: "?><")
        for scalar in xml.unicodeScalars {
            switch scalar {
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A message as a header value: control characters become spaces.
    static func headerSafe(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
    }
}
