import NIOHTTP1
import Verifier

/// What the sidecar refuses to forward whatever the signature says (ARCHITECTURE.md rule 6): when it
/// cannot send the backend exactly what it verified, or the request is one S3 would never take, it answers
/// with S3's error and forwards nothing.
///
/// Pure checks over the request head, shared by the proxy and the `auth_request` endpoint.
enum ForwardingRules {
    /// The methods S3 has. `OPTIONS` reaches the backend never: a CORS preflight is answered by the
    /// sidecar itself (`CORSHandler`), any other `OPTIONS` is refused like `TRACE` or WebDAV's `MOVE`.
    static let methods: Set<String> = ["GET", "HEAD", "PUT", "POST", "DELETE"]

    /// The `Allow` header of a `405 MethodNotAllowed`.
    static let allowHeaderValue = "GET, HEAD, PUT, POST, DELETE"

    /// The methods whose S3 operations take no body: a body here is one a backend might not read, and so
    /// run as a request of its own (DeleteObjects is a `POST` and keeps its body).
    static let bodylessMethods: Set<String> = ["GET", "HEAD", "DELETE"]

    /// The prefix of the headers the sidecar itself sends upstream (`X-Sidecar-Access-Key` in `trusted`
    /// mode, what nginx passes on after `/auth`). A client never gets to send one: a backend moved from
    /// one mode to another would believe it.
    static let sidecarHeaderPrefix = "x-sidecar-"

    // MARK: - Before authentication

    /// The checks that need no signature: the method, the request target's syntax, a single `Host`, the
    /// sidecar's own headers, and a body where S3 takes none.
    ///
    /// - Parameter hasBody: Whether body bytes follow the head (a non-zero `Content-Length`, or chunked).
    static func checkHead(_ head: S3RequestHead, hasBody: Bool) throws(S3Error) {
        guard methods.contains(head.method) else {
            throw S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
        }
        guard isOriginForm(head.uri) else {
            throw S3Error(.invalidURI, "Couldn't parse the specified URI.")
        }
        var hosts = 0
        for (name, _) in head.headers where name.utf8.count == 4 && name.lowercased() == "host" { hosts += 1 }
        if hosts > 1 {
            // RFC 9112 §3.2: a request with two Host fields is answered 400; the verifier would sign their
            // comma-joined values while a backend reads one of them.
            throw S3Error(.invalidRequest, "The request carries more than one Host header.")
        }
        for (name, _) in head.headers where hasSidecarPrefix(name) {
            throw S3Error(
                .invalidRequest,
                "The header \(name) is set by the sidecar and may not be sent by a client.",
                details: [S3Error.Detail("Header", name)]
            )
        }
        if hasBody && bodylessMethods.contains(head.method) {
            throw S3Error(.invalidRequest, "A \(head.method) request may not carry a body.")
        }
    }

    /// Whether `uri` is an origin-form request target (`/path[?query]`) of only the bytes a URI may hold
    /// literally (RFC 3986: unreserved, sub-delims, `: @ / ? [ ] %`). NIO's upstream-side head validator
    /// refuses the same bytes (space, controls, non-ASCII, `" < > \ ^ `` { | }`), so deciding here makes
    /// such a target a client error (`InvalidURI`) instead of a `502` after verification. A `#` is refused
    /// too: a fragment is never part of a request target, and a backend that cut it off would act on a
    /// path other than the one verified.
    static func isOriginForm(_ uri: String) -> Bool {
        var uri = uri
        return uri.withUTF8 { bytes in
            guard bytes.first == UInt8(ascii: "/") else { return false }
            for byte in bytes where !allowedInTarget[Int(byte)] { return false }
            return true
        }
    }

    private static let allowedInTarget: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(byte)] = true }
        for byte in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(byte)] = true }
        for byte in "-._~:/?[]@!$&'()*+,;=%".utf8 { table[Int(byte)] = true }
        return table
    }()

    private static func hasSidecarPrefix(_ name: String) -> Bool {
        let prefix = sidecarHeaderPrefix.utf8
        guard name.utf8.count >= prefix.count else { return false }
        return zip(name.utf8, prefix).allSatisfy { a, b in (a >= 0x41 && a <= 0x5A ? a | 0x20 : a) == b }
    }

    // MARK: - After authentication

    /// The checks that need to know what was signed: a signed header is never removed on the way up, so a
    /// `Connection` header that nominates one (which would make it hop-by-hop, here or at any intermediary
    /// behind us) is refused, and so is a signed `Upgrade` (S3 has no protocol upgrade, and the sidecar never
    /// forwards one).
    ///
    /// - Parameter signed: Lower-cased names of the signed headers (`signedHeaderNames`).
    static func checkSigned(_ head: S3RequestHead, signed: Set<String>) throws(S3Error) {
        if signed.contains("upgrade") {
            throw S3Error(
                .invalidRequest,
                "S3 does not switch protocols: a signed Upgrade header cannot be forwarded.",
                details: [S3Error.Detail("Header", "Upgrade")]
            )
        }
        for (name, value) in head.headers where name.utf8.count == 10 && name.lowercased() == "connection" {
            for token in value.split(separator: ",") {
                let nominated = token.trimmingASCIIWhitespace().lowercased()
                // A hop-by-hop header by definition (`TE`, `Keep-Alive`, …) is named in Connection as the spec
                // asks; it is not an end-to-end header being removed, and a signed one goes on anyway.
                if signed.contains(nominated) && !HopByHopHeaders.isFixedOrProxy(nominated[...]) {
                    throw S3Error(
                        .invalidRequest,
                        "The signed header \(nominated) may not be named in Connection: it would be removed before "
                            + "the request is forwarded.",
                        details: [S3Error.Detail("Header", nominated)]
                    )
                }
            }
        }
    }

    /// The lower-cased names of the headers a request's signature covers. Version 4 lists them; Version 2
    /// signs `Content-MD5`, `Content-Type`, `Date` and every `x-amz-*` header.
    static func signedHeaderNames(
        _ auth: AuthenticatedRequest,
        headers: some Sequence<(name: String, value: String)>
    ) -> Set<String> {
        if auth.signatureVersion == .v4 { return Set(auth.signedHeaders) }
        var names: Set<String> = ["content-md5", "content-type", "date"]
        for (name, _) in headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-") { names.insert(lower) }
        }
        return names
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        var s = self
        while let f = s.utf8.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.utf8.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}

extension HTTPRequestHead {
    /// Whether the client connection can carry another request after this one. Not after a `CONNECT` or a
    /// request asking to upgrade (`Upgrade`): NIO's parser reads nothing more on such a connection (what
    /// follows belongs to the other protocol), so the reply says `Connection: close` and the connection ends
    /// with it. The sidecar never upgrades: the request itself is served, or refused, as HTTP/1.1.
    var keepsClientConnection: Bool {
        isKeepAlive && method != .CONNECT && !headers.contains(name: "upgrade")
    }
}
