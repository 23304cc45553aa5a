import NIOCore
import NIOHTTP1

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

    /// The S3 XML error document for `error`; the only place errors are rendered.
    static func error(_ error: DevStoreError, resource: String, requestID: String) -> S3Response {
        var writer = XMLWriter(root: "Error")
        writer.element("Code", error.code.name)
        writer.element("Message", error.message)
        writer.element("Resource", resource)
        writer.element("RequestId", requestID)
        // S3's error documents carry no namespace; clients match on the element names.
        let document = writer.finished(root: "Error")
            .replacingOccurrences(of: " xmlns=\"\(XMLWriter.s3Namespace)\"", with: "")
        return .xml(document, status: error.code.status)
    }
}
