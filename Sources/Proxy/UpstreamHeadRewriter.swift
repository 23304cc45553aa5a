import NIOHTTP1
import Verifier

/// Turns a verified client request head into the head sent upstream, per `UpstreamMode`.
///
/// The method and the path bytes are never touched. The query is kept byte for byte too, except that the
/// presigned-URL authentication parameters are dropped in the modes that strip the client's auth.
struct UpstreamHeadRewriter: Sendable {
    /// The presigned-form parameters that carry the client's authentication.
    static let authQueryParameters: Set<String> = [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Security-Token",
    ]

    /// The Signature Version 2 presigned parameters, dropped likewise from a V2 presigned request.
    static let v2AuthQueryParameters: Set<String> = ["AWSAccessKeyId", "Expires", "Signature", "x-amz-security-token"]

    /// The headers that describe an aws-chunked encoding, meaningless once the body is decoded.
    static let chunkedEncodingHeaders = ["x-amz-decoded-content-length", "x-amz-trailer"]

    /// The identity header of `trusted` mode. Any copy a client sends is removed first.
    static let accessKeyHeader = "X-Sidecar-Access-Key"

    let mode: UpstreamMode
    let upstream: UpstreamEndpoint
    let trailingChecksum: TrailingChecksumForwarding
    private let signer: SigV4Signer?
    /// `upstream.hostHeader`, formatted once rather than per request.
    private let hostHeader: String

    init(mode: UpstreamMode, upstream: UpstreamEndpoint, trailingChecksum: TrailingChecksumForwarding? = nil) {
        self.mode = mode
        self.upstream = upstream
        self.trailingChecksum = trailingChecksum ?? .default(for: mode)
        self.hostHeader = upstream.hostHeader
        if case .resign(let credentials) = mode {
            signer = SigV4Signer(credentials: credentials)
        } else {
            signer = nil
        }
    }

    /// Which bytes of the body go upstream: an aws-chunked body is decoded for a backend that does not
    /// check the client's signatures (resign, trusted), and framed again with its verified trailing
    /// checksum when it has one and `trailingChecksum` says so; passthrough forwards it as received, for
    /// the backend to verify again.
    func bodyOutput(for auth: AuthenticatedRequest, headers: HTTPHeaders) -> RequestBodyVerifier.Output {
        if case .passthrough = mode { return .raw }
        guard case .streaming = auth.payload else { return .raw }
        if trailingChecksum == .awsChunked && headers.contains(name: "x-amz-trailer") { return .reframed }
        return .decoded
    }

    /// The upstream head for a verified request.
    ///
    /// - Parameters:
    ///   - head: The client's head as received.
    ///   - auth: What the verifier established.
    ///   - framing: The validated body framing.
    ///   - now: Seconds since 1970, for the `resign` signature.
    func rewrite(
        _ head: HTTPRequestHead,
        auth: AuthenticatedRequest,
        framing: RequestFraming,
        now: Int64
    ) throws(S3Error) -> HTTPRequestHead {
        var headers = head.headers
        // A signed header is never removed on the way up, in any mode (ARCHITECTURE.md rule 6): a hop-by-hop
        // header that was signed goes on, and admission refused a `Connection` that nominates a signed header
        // and a signed `Upgrade` (`ForwardingRules.checkSigned`). `Upgrade` never goes on, signed or not.
        var signed = ForwardingRules.signedHeaderNames(auth, headers: head.headers)
        signed.remove("upgrade")

        // We answered `Expect: 100-continue` ourselves; the upstream gets the body straight away.
        if !signed.contains("expect") && headers.contains(name: "expect") {
            headers.remove(name: "expect")
        }
        HopByHopHeaders.remove(from: &headers, keeping: signed)
        if framing == .none, !headers.contains(name: "content-length"),
            head.method == .PUT || head.method == .POST || head.method == .PATCH
        {
            // Without it NIO's encoder would frame an empty body as chunked.
            headers.add(name: "Content-Length", value: "0")
        }

        let output = bodyOutput(for: auth, headers: head.headers)
        switch output {
        case .raw:
            break
        case .decoded:
            // The backend gets the object bytes as a plain body of x-amz-decoded-content-length bytes.
            let decodedLength = headers.first(name: "x-amz-decoded-content-length").flatMap { Int64($0) }
            for name in Self.chunkedEncodingHeaders { headers.remove(name: name) }
            Self.removeAWSChunkedCoding(&headers)
            headers.remove(name: "content-length")
            headers.remove(name: "transfer-encoding")
            if let decodedLength, decodedLength > 0 {
                headers.add(name: "Content-Length", value: String(decodedLength))
            } else {
                // An empty (or unsized) decoded body goes chunked: with Content-Length 0 the upstream request
                // would be complete at its head, before the body's signatures are checked.
                headers.add(name: "Transfer-Encoding", value: "chunked")
            }
        case .reframed:
            // Unsigned aws-chunked of the decoded bytes, ending in the verified checksum trailer that
            // x-amz-trailer (kept, with x-amz-decoded-content-length) announces. Its encoded length depends
            // on how the client's chunks arrive, so it goes with HTTP chunked framing.
            if !S3HeaderValues.isAWSChunked(contentEncoding: headers[canonicalForm: "content-encoding"]) {
                headers.add(name: "Content-Encoding", value: "aws-chunked")
            }
            headers.remove(name: "content-length")
            headers.remove(name: "transfer-encoding")
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }

        var uri = head.uri
        let presignedQuery = auth.form == .presigned
        switch mode {
        case .passthrough:
            break
        case .trusted:
            Self.stripClientAuth(&headers)
            headers.replaceOrAdd(name: "Host", value: hostHeader)
            headers.add(name: Self.accessKeyHeader, value: auth.accessKeyId)
            switch output {
            case .raw: break
            case .decoded: headers.remove(name: "x-amz-content-sha256")
            case .reframed: headers.replaceOrAdd(name: "x-amz-content-sha256", value: Self.reframedPayload)
            }
            if presignedQuery { uri = Self.removingAuthQueryParameters(from: uri, version: auth.signatureVersion) }
        case .resign:
            Self.stripClientAuth(&headers)
            headers.remove(name: "x-amz-date")
            headers.remove(name: "x-amz-content-sha256")
            headers.replaceOrAdd(name: "Host", value: hostHeader)
            if presignedQuery { uri = Self.removingAuthQueryParameters(from: uri, version: auth.signatureVersion) }
            let payloadHash: String
            switch auth.payload {
            case .unsigned: payloadHash = "UNSIGNED-PAYLOAD"
            case .sha256(let digest): payloadHash = Hex.encode(digest)
            // Decoded and verified here; the backend gets plain bytes, or unsigned aws-chunked with the trailer.
            case .streaming: payloadHash = output == .reframed ? Self.reframedPayload : "UNSIGNED-PAYLOAD"
            }
            try signer!.sign(
                method: head.method.rawValue,
                uri: uri,
                headers: &headers,
                payloadHash: payloadHash,
                now: now
            )
        }
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: uri, headers: headers)
    }

    /// The payload of a re-framed body: unsigned chunks, then the trailer.
    static let reframedPayload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    /// Removes `aws-chunked` from `Content-Encoding`, keeping any other coding the client declared.
    private static func removeAWSChunkedCoding(_ headers: inout HTTPHeaders) {
        let codings = S3HeaderValues.withoutAWSChunked(contentEncoding: headers[canonicalForm: "content-encoding"])
        headers.remove(name: "content-encoding")
        if !codings.isEmpty { headers.add(name: "Content-Encoding", value: codings.joined(separator: ", ")) }
    }

    private static func stripClientAuth(_ headers: inout HTTPHeaders) {
        headers.remove(name: "authorization")
        headers.remove(name: "x-amz-security-token")
        headers.remove(name: accessKeyHeader)
    }

    /// Drops the presigned authentication parameters from a raw request target, keeping every other byte
    /// of the path and query as it was. Names are compared decoded, as the verifier reads them, so an
    /// escaped `X-Amz-Signature` is dropped too.
    static func removingAuthQueryParameters(
        from uri: String,
        version: AuthenticatedRequest.SignatureVersion = .v4
    ) -> String {
        let names = version == .v4 ? authQueryParameterBytes : v2AuthQueryParameterBytes
        var uri = uri
        return uri.withUTF8 { bytes in
            guard let q = bytes.firstIndex(of: UInt8(ascii: "?")) else { return String(decoding: bytes, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count)
            out.append(contentsOf: bytes[..<q])
            var wroteQuery = false
            var start = q + 1
            while start <= bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
                let segment = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if !isAuthParameter(segment, names: names) {
                    out.append(wroteQuery ? UInt8(ascii: "&") : UInt8(ascii: "?"))
                    out.append(contentsOf: segment)
                    wroteQuery = true
                }
                start = end + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    private static let authQueryParameterBytes: [[UInt8]] = authQueryParameters.map { Array($0.utf8) }
    private static let v2AuthQueryParameterBytes: [[UInt8]] = v2AuthQueryParameters.map { Array($0.utf8) }

    private static func isAuthParameter(_ segment: UnsafeBufferPointer<UInt8>, names: [[UInt8]]) -> Bool {
        let name = segment[..<(segment.firstIndex(of: UInt8(ascii: "=")) ?? segment.endIndex)]
        if !name.contains(UInt8(ascii: "%")) && !name.contains(UInt8(ascii: "+")) {
            return names.contains { $0.elementsEqual(name) }
        }
        guard let decoded = URIEncoding.decodeQueryComponent(UnsafeBufferPointer(rebasing: name)) else { return false }
        return names.contains { $0 == decoded }
    }
}
