/// One uploaded part of a multipart upload.
struct PartRecord: Codable, Sendable, Equatable {
    var partNumber: Int
    var size: Int64
    /// Hex MD5 of the part, without quotes.
    var etag: String
    /// Milliseconds since 1970.
    var lastModified: Int64
    /// The part's data file inside the upload directory.
    var dataFile: String
}
