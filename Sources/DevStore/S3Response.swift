import NIOCore
import NIOHTTP1
import Verifier

/// A complete, in-memory response: status, headers and a small body (XML or nothing).
///
/// Object bodies never pass through here; they are streamed from disk by the connection.
struct S3Response: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: String

    /// A response with an XML document as body.
    static func xml(_ document: String, status: HTTPResponseStatus = .ok) -> S3Response {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/xml")
        return S3Response(status: status, headers: headers, body: document)
    }

    /// A response with no body.
    static func empty(_ status: HTTPResponseStatus = .ok, headers: HTTPHeaders = HTTPHeaders()) -> S3Response {
        S3Response(status: status, headers: headers, body: "")
    }

    /// The S3 XML error document for `error`, as `S3Error` renders it (the one renderer of the package).
    static func error(_ error: DevStoreError, resource: String, requestID: String) -> S3Response {
        .xml(
            error.xmlBody(resource: resource, requestId: requestID),
            status: HTTPResponseStatus(statusCode: error.httpStatus)
        )
    }
}
