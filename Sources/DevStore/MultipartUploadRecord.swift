/// An in-progress multipart upload, kept in `upload.json` in the upload's bookkeeping directory.
struct MultipartUploadRecord: Codable, Sendable, Equatable {
    var uploadID: String
    var bucket: String
    var key: String
    /// Milliseconds since 1970.
    var initiated: Int64
    var contentType: String
    var headers: [String: String]
    var userMetadata: [String: String]
}
