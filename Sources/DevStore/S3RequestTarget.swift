import Verifier

/// The bucket, key and query of a path-style S3 request target, decoded exactly once.
///
/// The key is the percent-decoded rest of the path after `/bucket/`, byte for byte: no `.`/`..`
/// resolution and no collapsing of `//`, because S3 keys are opaque strings, never paths.
struct S3RequestTarget: Sendable, Equatable {
    /// The bucket, or `nil` for the service (`GET /`).
    var bucket: String?
    /// The object key, or `nil` for a bucket-level request.
    var key: String?
    /// Query parameters in their decoded form; a parameter without `=` has an empty value.
    var query: [String: String]

    /// Parses a raw request target such as `/bucket/a%2Fb?uploadId=1`.
    ///
    /// An absolute-form target (`http://host/bucket`) is reduced to its path first.
    static func parse(_ rawTarget: String) throws(DevStoreError) -> S3RequestTarget {
        var target = Substring(rawTarget)
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            let afterScheme = target.dropFirst(scheme.count)
            target = afterScheme.firstIndex(of: "/").map { afterScheme[$0...] } ?? "/"
        }
        let rawPath: Substring
        let rawQuery: Substring
        if let question = target.firstIndex(of: "?") {
            rawPath = target[..<question]
            rawQuery = target[target.index(after: question)...]
        } else {
            rawPath = target
            rawQuery = ""
        }
        guard rawPath.first == "/" else { throw DevStoreError(.invalidRequest, "The request target must be a path.") }

        var query: [String: String] = [:]
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = URIEncoding.decode(parts[0], plusAsSpace: true),
                let value = URIEncoding.decode(parts.count > 1 ? parts[1] : "", plusAsSpace: true)
            else { throw DevStoreError(.invalidArgument, "A query parameter is not valid percent-encoded UTF-8.") }
            query[name] = value
        }

        let path = rawPath.dropFirst()
        guard !path.isEmpty else { return S3RequestTarget(bucket: nil, key: nil, query: query) }
        let rawBucket: Substring
        var rawKey: Substring? = nil
        if let slash = path.firstIndex(of: "/") {
            rawBucket = path[..<slash]
            let rest = path[path.index(after: slash)...]
            if !rest.isEmpty { rawKey = rest }
        } else {
            rawBucket = path
        }
        guard let bucket = URIEncoding.decode(rawBucket) else { throw DevStoreError.invalidBucketName }
        var key: String? = nil
        if let rawKey {
            guard let decoded = URIEncoding.decode(rawKey) else {
                throw DevStoreError(.invalidArgument, "The object key is not valid percent-encoded UTF-8.")
            }
            key = decoded
        }
        return S3RequestTarget(bucket: bucket, key: key, query: query)
    }
}
