/// A single HTTP byte range (`Range: bytes=a-b`, `bytes=a-`, `bytes=-n`) resolved against an object size.
struct ByteRange: Sendable, Equatable {
    /// The first byte served.
    let first: Int64
    /// The last byte served (inclusive).
    let last: Int64

    /// The number of bytes served.
    var count: Int64 { last - first + 1 }

    /// What a `Range` header asks for.
    enum Resolution: Equatable {
        /// Serve the whole object with 200: no header, or a header S3 ignores (not `bytes=`, several ranges,
        /// malformed).
        case whole
        /// Serve this part with 206.
        case partial(ByteRange)
        /// Answer 416 `InvalidRange`.
        case unsatisfiable
    }

    /// Resolves `header` against an object of `size` bytes, following RFC 9110 as S3 does: a syntactically
    /// invalid header is ignored, a valid one that selects no byte is unsatisfiable.
    static func resolve(header: String?, size: Int64) -> Resolution {
        guard let header else { return .whole }
        let trimmed = header.trimmingSpaces
        guard trimmed.hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst("bytes=".count).trimmingSpaces
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let startText = spec[..<dash].trimmingSpaces
        let endText = spec[spec.index(after: dash)...].trimmingSpaces
        if startText.isEmpty {
            guard let suffix = Int64(endText), suffix >= 0, endText.allSatisfy(\.isASCIIDigit) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(ByteRange(first: max(0, size - suffix), last: size - 1))
        }
        guard let first = Int64(startText), startText.allSatisfy(\.isASCIIDigit) else { return .whole }
        var last = size - 1
        if !endText.isEmpty {
            guard let end = Int64(endText), endText.allSatisfy(\.isASCIIDigit), end >= first else { return .whole }
            last = min(end, size - 1)
        }
        guard first < size else { return .unsatisfiable }
        return .partial(ByteRange(first: first, last: last))
    }
}
