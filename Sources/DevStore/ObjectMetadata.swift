/// What the store knows about an object, kept as a JSON file beside the object's data.
///
/// The real key lives here and nowhere in a path: files are named after the key's SHA-256, so no key
/// can reach outside its bucket's directory.
struct ObjectMetadata: Codable, Sendable, Equatable {
    /// The object key exactly as the client sent it.
    var key: String
    /// The size in bytes.
    var size: Int64
    /// The entity tag without quotes: hex MD5, or `md5-of-md5s-N` for a multipart object.
    var etag: String
    /// Milliseconds since 1970.
    var lastModified: Int64
    /// The `Content-Type` the object was stored with.
    var contentType: String
    /// Other standard headers stored with the object (`content-encoding`, `cache-control`, …), lowercased names.
    var headers: [String: String]
    /// `x-amz-meta-*` values by lowercased name without the prefix.
    var userMetadata: [String: String]
    /// The data file's name inside the object's directory; a new name per write, so a reader that opened
    /// the previous version keeps reading it while a writer replaces it.
    var dataFile: String

    /// The ETag as sent in headers and XML: in double quotes.
    var quotedETag: String { "\"\(etag)\"" }
}
