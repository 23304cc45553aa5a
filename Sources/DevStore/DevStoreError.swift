import Verifier

/// An S3 error the store answers with: Verifier's `S3Error`, the one S3 error type of this package (one table
/// from code to HTTP status, one XML renderer). Here are the store's canned errors, with S3's messages.
typealias DevStoreError = S3Error

extension S3Error {
    static let noSuchBucket = DevStoreError(.noSuchBucket, "The specified bucket does not exist")
    static let noSuchKey = DevStoreError(.noSuchKey, "The specified key does not exist.")
    static let noSuchUpload = DevStoreError(
        .noSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, "
            + "or the upload may have been aborted or completed."
    )
    static let bucketNotEmpty = DevStoreError(.bucketNotEmpty, "The bucket you tried to delete is not empty")
    static let bucketAlreadyOwnedByYou = DevStoreError(
        .bucketAlreadyOwnedByYou,
        "Your previous request to create the named bucket succeeded and you already own it."
    )
    static let invalidBucketName = DevStoreError(.invalidBucketName, "The specified bucket is not valid.")
    static let keyTooLong = DevStoreError(.keyTooLongError, "Your key is too long")
    static let methodNotAllowed = DevStoreError(
        .methodNotAllowed,
        "The specified method is not allowed against this resource."
    )
    static let invalidPartOrder = DevStoreError(
        .invalidPartOrder,
        "The list of parts was not in ascending order. The parts list must be specified in order by part number."
    )
    static let invalidPart = DevStoreError(
        .invalidPart,
        "One or more of the specified parts could not be found. The part may not have been uploaded, "
            + "or the specified entity tag may not match the part's entity tag."
    )
    static let entityTooSmall = DevStoreError(
        .entityTooSmall,
        "Your proposed upload is smaller than the minimum allowed object size."
    )
    static let malformedXML = DevStoreError(
        .malformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
    static let incompleteBody = DevStoreError(
        .incompleteBody,
        "You did not provide the number of bytes specified by the Content-Length HTTP header"
    )
    static let internalError = DevStoreError(.internalError, "We encountered an internal error. Please try again.")
}
