/// An S3 error: the code S3 uses, the HTTP status it answers with, a human message and the extra
/// elements S3 adds to its XML body (for example `StringToSign` on a signature mismatch).
///
/// This is the one place that maps an S3 error code to its HTTP status and renders S3's XML error body;
/// every module that answers a request with an error goes through it.
public struct S3Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// An S3 error code. New codes are added as `static let` values, so adding one never breaks users.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case accessDenied = "AccessDenied"
            case authorizationHeaderMalformed = "AuthorizationHeaderMalformed"
            case authorizationQueryParametersError = "AuthorizationQueryParametersError"
            case badDigest = "BadDigest"
            case entityTooLarge = "EntityTooLarge"
            case entityTooSmall = "EntityTooSmall"
            case incompleteBody = "IncompleteBody"
            case internalError = "InternalError"
            case invalidAccessKeyId = "InvalidAccessKeyId"
            case invalidArgument = "InvalidArgument"
            case invalidDigest = "InvalidDigest"
            case invalidPolicyDocument = "InvalidPolicyDocument"
            case invalidRequest = "InvalidRequest"
            case invalidToken = "InvalidToken"
            case invalidURI = "InvalidURI"
            case malformedPOSTRequest = "MalformedPOSTRequest"
            case methodNotAllowed = "MethodNotAllowed"
            case missingContentLength = "MissingContentLength"
            case missingSecurityHeader = "MissingSecurityHeader"
            case notImplemented = "NotImplemented"
            case requestHeaderSectionTooLarge = "RequestHeaderSectionTooLarge"
            case requestTimeout = "RequestTimeout"
            case requestTimeTooSkewed = "RequestTimeTooSkewed"
            case serviceUnavailable = "ServiceUnavailable"
            case badGateway = "BadGateway"
            case signatureDoesNotMatch = "SignatureDoesNotMatch"
            case slowDown = "SlowDown"
            case xAmzContentSHA256Mismatch = "XAmzContentSHA256Mismatch"
            // What an object store answers (the development store).
            case bucketAlreadyOwnedByYou = "BucketAlreadyOwnedByYou"
            case bucketNotEmpty = "BucketNotEmpty"
            case invalidBucketName = "InvalidBucketName"
            case invalidPart = "InvalidPart"
            case invalidPartOrder = "InvalidPartOrder"
            case invalidRange = "InvalidRange"
            case keyTooLongError = "KeyTooLongError"
            case malformedXML = "MalformedXML"
            case maxMessageLengthExceeded = "MaxMessageLengthExceeded"
            case noSuchBucket = "NoSuchBucket"
            case noSuchKey = "NoSuchKey"
            case noSuchUpload = "NoSuchUpload"
            case preconditionFailed = "PreconditionFailed"
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        public static let accessDenied = Code(.accessDenied)
        public static let authorizationHeaderMalformed = Code(.authorizationHeaderMalformed)
        public static let authorizationQueryParametersError = Code(.authorizationQueryParametersError)
        public static let badDigest = Code(.badDigest)
        public static let entityTooLarge = Code(.entityTooLarge)
        public static let entityTooSmall = Code(.entityTooSmall)
        public static let incompleteBody = Code(.incompleteBody)
        public static let internalError = Code(.internalError)
        public static let invalidAccessKeyId = Code(.invalidAccessKeyId)
        public static let invalidArgument = Code(.invalidArgument)
        public static let invalidDigest = Code(.invalidDigest)
        public static let invalidPolicyDocument = Code(.invalidPolicyDocument)
        public static let invalidRequest = Code(.invalidRequest)
        public static let invalidToken = Code(.invalidToken)
        public static let invalidURI = Code(.invalidURI)
        public static let malformedPOSTRequest = Code(.malformedPOSTRequest)
        public static let methodNotAllowed = Code(.methodNotAllowed)
        public static let missingContentLength = Code(.missingContentLength)
        public static let missingSecurityHeader = Code(.missingSecurityHeader)
        public static let notImplemented = Code(.notImplemented)
        public static let requestHeaderSectionTooLarge = Code(.requestHeaderSectionTooLarge)
        public static let requestTimeout = Code(.requestTimeout)
        public static let requestTimeTooSkewed = Code(.requestTimeTooSkewed)
        public static let serviceUnavailable = Code(.serviceUnavailable)
        /// Not an S3 code: the sidecar's answer when the upstream backend cannot be reached or fails.
        public static let badGateway = Code(.badGateway)
        public static let signatureDoesNotMatch = Code(.signatureDoesNotMatch)
        public static let slowDown = Code(.slowDown)
        public static let xAmzContentSHA256Mismatch = Code(.xAmzContentSHA256Mismatch)
        public static let bucketAlreadyOwnedByYou = Code(.bucketAlreadyOwnedByYou)
        public static let bucketNotEmpty = Code(.bucketNotEmpty)
        public static let invalidBucketName = Code(.invalidBucketName)
        public static let invalidPart = Code(.invalidPart)
        public static let invalidPartOrder = Code(.invalidPartOrder)
        public static let invalidRange = Code(.invalidRange)
        public static let keyTooLongError = Code(.keyTooLongError)
        public static let malformedXML = Code(.malformedXML)
        public static let maxMessageLengthExceeded = Code(.maxMessageLengthExceeded)
        public static let noSuchBucket = Code(.noSuchBucket)
        public static let noSuchKey = Code(.noSuchKey)
        public static let noSuchUpload = Code(.noSuchUpload)
        public static let preconditionFailed = Code(.preconditionFailed)

        /// The code as S3 spells it in the `<Code>` element.
        public var s3Code: String { base.rawValue }

        /// The HTTP status S3 answers with for this code.
        public var httpStatus: Int {
            switch base {
            case .accessDenied, .invalidAccessKeyId, .requestTimeTooSkewed, .signatureDoesNotMatch: 403
            case .authorizationHeaderMalformed, .authorizationQueryParametersError, .badDigest, .entityTooLarge,
                .entityTooSmall, .incompleteBody, .invalidArgument, .invalidDigest, .invalidPolicyDocument,
                .invalidRequest, .invalidToken,
                .invalidURI, .malformedPOSTRequest, .missingSecurityHeader, .requestHeaderSectionTooLarge,
                .requestTimeout, .xAmzContentSHA256Mismatch, .invalidBucketName, .invalidPart, .invalidPartOrder,
                .keyTooLongError, .malformedXML, .maxMessageLengthExceeded:
                400
            case .noSuchBucket, .noSuchKey, .noSuchUpload: 404
            case .methodNotAllowed: 405
            case .bucketAlreadyOwnedByYou, .bucketNotEmpty: 409
            case .preconditionFailed: 412
            case .invalidRange: 416
            case .missingContentLength: 411
            case .internalError: 500
            case .notImplemented: 501
            case .badGateway: 502
            case .serviceUnavailable, .slowDown: 503
            }
        }

        public var description: String { s3Code }
    }

    /// An extra element of the XML error body, such as `<StringToSign>…</StringToSign>`.
    public struct Detail: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var code: Code
    public var message: String
    public var details: [Detail]

    public init(_ code: Code, _ message: String, details: [Detail] = []) {
        self.code = code
        self.message = message
        self.details = details
    }

    /// The HTTP status to answer with.
    public var httpStatus: Int { code.httpStatus }

    /// The value of the first detail with this element name, if any.
    public func detail(_ name: String) -> String? {
        details.first { $0.name == name }?.value
    }

    public var description: String { "\(code.s3Code): \(message)" }

    /// Renders S3's XML error body:
    /// `<Error><Code>…</Code><Message>…</Message>…details…<Resource>…</Resource><RequestId>…</RequestId></Error>`.
    public func xmlBody(resource: String?, requestId: String) -> String {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
        appendElement("Code", code.s3Code, to: &xml)
        appendElement("Message", message, to: &xml)
        for detail in details {
            appendElement(detail.name, detail.value, to: &xml)
        }
        if let resource {
            appendElement("Resource", resource, to: &xml)
        }
        appendElement("RequestId", requestId, to: &xml)
        xml += "</Error>"
        return xml
    }
}

extension S3Error {
    /// `SignatureDoesNotMatch` with S3's message and the diagnostic elements given (string to sign,
    /// signature provided, …): the one way every signature check in this module reports a mismatch.
    static func signatureDoesNotMatch(details: [Detail]) -> S3Error {
        S3Error(
            .signatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. "
                + "Check your key and signing method.",
            details: details
        )
    }
}

// MARK: - XML text escaping

private func appendElement(_ name: String, _ text: String, to xml: inout String) {
    xml += "<\(name)>"
    xml += xmlEscaped(text)
    xml += "</\(name)>"
}
