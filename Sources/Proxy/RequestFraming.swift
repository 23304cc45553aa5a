import NIOHTTP1
import Verifier

/// How a request's body is delimited, checked before anything is forwarded.
///
/// NIO's parser already refuses most ambiguous framing; this is the second, explicit line of defence
/// (ARCHITECTURE.md rule 3), so the upstream never sees a head whose body length two parsers could read
/// differently.
enum RequestFraming: Equatable {
    /// No body.
    case none
    /// Exactly this many bytes.
    case contentLength(Int64)
    /// `Transfer-Encoding: chunked`.
    case chunked

    /// Whether body bytes follow the head.
    var hasBody: Bool {
        switch self {
        case .none: false
        case .contentLength(let n): n > 0
        case .chunked: true
        }
    }

    /// The declared length, if there is one.
    var declaredLength: Int64? {
        if case .contentLength(let n) = self { return n }
        return nil
    }

    /// Reads and validates the framing headers.
    ///
    /// - Throws: `InvalidRequest` (400) for `Content-Length` with `Transfer-Encoding`, two different or a
    ///   non-numeric `Content-Length`, or a transfer coding other than `chunked`.
    static func validate(_ headers: HTTPHeaders) throws(S3Error) -> RequestFraming {
        // Raw values, split by hand: the canonical-form view drops empty elements, and an empty
        // Content-Length must be refused, not read as "no body".
        var lengths: [Substring] = []
        for value in headers["content-length"] {
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                lengths.append(Self.trimmed(element))
            }
        }
        let codings = headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
        if !codings.isEmpty {
            guard lengths.isEmpty else {
                throw S3Error(.invalidRequest, "A request may not carry both Content-Length and Transfer-Encoding.")
            }
            guard codings == ["chunked"] else {
                throw S3Error(
                    .notImplemented,
                    "A header you provided implies functionality that is not implemented",
                    details: [S3Error.Detail("Header", "Transfer-Encoding")]
                )
            }
            return .chunked
        }
        guard let first = lengths.first else { return .none }
        guard lengths.allSatisfy({ $0 == first }) else {
            throw S3Error(.invalidRequest, "The request carries more than one different Content-Length.")
        }
        guard !first.isEmpty, first.utf8.count <= 18, first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let n = Int64(first)
        else {
            throw S3Error(
                .invalidArgument,
                "Content-Length must be a non-negative decimal number.",
                details: [
                    S3Error.Detail("ArgumentName", "Content-Length"), S3Error.Detail("ArgumentValue", String(first)),
                ]
            )
        }
        return .contentLength(n)
    }

    private static func trimmed(_ s: Substring) -> Substring {
        var s = s
        while let f = s.utf8.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.utf8.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }
}
