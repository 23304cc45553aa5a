import Verifier

/// The metadata a client sends with a PUT, CopyObject (REPLACE) or CreateMultipartUpload.
struct StoredHeaders: Sendable, Equatable {
    /// The standard headers the store keeps and returns; everything else is dropped.
    static let keptHeaderNames = [
        "cache-control", "content-disposition", "content-encoding", "content-language", "expires",
    ]

    var contentType: String
    var headers: [String: String]
    var userMetadata: [String: String]
}

extension StoredHeaders {
    /// Picks the stored headers out of a request's headers.
    init(requestHeaders: [(name: String, value: String)]) {
        var contentType = "binary/octet-stream"
        var headers: [String: String] = [:]
        var userMetadata: [String: String] = [:]
        for (name, value) in requestHeaders {
            let lower = name.lowercased()
            if lower == "content-type" {
                contentType = value
            } else if lower.hasPrefix("x-amz-meta-") {
                let metaName = String(lower.dropFirst("x-amz-meta-".count))
                // S3 joins repeated metadata headers with commas.
                userMetadata[metaName] = userMetadata[metaName].map { "\($0),\(value)" } ?? value
            } else if Self.keptHeaderNames.contains(lower) {
                // aws-chunked is framing between client and server, not part of the stored object.
                if lower == "content-encoding" {
                    let codings = S3HeaderValues.withoutAWSChunked(
                        contentEncoding: value.split(separator: ",").map { $0.trimmingSpaces }
                    )
                    if !codings.isEmpty { headers[lower] = codings.joined(separator: ",") }
                } else {
                    headers[lower] = value
                }
            }
        }
        self.init(contentType: contentType, headers: headers, userMetadata: userMetadata)
    }
}
