import NIOHTTP1

/// An S3 error the store answers with: the S3 code, its HTTP status and a message for humans.
///
/// One table (``Code``'s `status`) maps codes to statuses; ``S3Response/error(_:resource:requestID:)``
/// is the only place that renders them.
struct DevStoreError: Error, Sendable, Equatable {
    /// The S3 error code, spelled as S3 spells it in the `<Code>` element.
    struct Code: Sendable, Hashable {
        let name: String
        let status: HTTPResponseStatus

        private init(_ name: String, _ status: HTTPResponseStatus) {
            self.name = name
            self.status = status
        }

        static let noSuchBucket = Code("NoSuchBucket", .notFound)
        static let noSuchKey = Code("NoSuchKey", .notFound)
        static let noSuchUpload = Code("NoSuchUpload", .notFound)
        static let bucketAlreadyOwnedByYou = Code("BucketAlreadyOwnedByYou", .conflict)
        static let bucketNotEmpty = Code("BucketNotEmpty", .conflict)
        static let invalidBucketName = Code("InvalidBucketName", .badRequest)
        static let keyTooLongError = Code("KeyTooLongError", .badRequest)
        static let invalidArgument = Code("InvalidArgument", .badRequest)
        static let invalidRequest = Code("InvalidRequest", .badRequest)
        static let invalidPart = Code("InvalidPart", .badRequest)
        static let invalidPartOrder = Code("InvalidPartOrder", .badRequest)
        static let entityTooSmall = Code("EntityTooSmall", .badRequest)
        static let malformedXML = Code("MalformedXML", .badRequest)
        static let incompleteBody = Code("IncompleteBody", .badRequest)
        static let maxMessageLengthExceeded = Code("MaxMessageLengthExceeded", .badRequest)
        static let methodNotAllowed = Code("MethodNotAllowed", .methodNotAllowed)
        static let invalidRange = Code("InvalidRange", .rangeNotSatisfiable)
        static let badDigest = Code("BadDigest", .badRequest)
        static let invalidDigest = Code("InvalidDigest", .badRequest)
        static let preconditionFailed = Code("PreconditionFailed", .preconditionFailed)
        static let notImplemented = Code("NotImplemented", .notImplemented)
        static let internalError = Code("InternalError", .internalServerError)
    }

    let code: Code
    let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

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
