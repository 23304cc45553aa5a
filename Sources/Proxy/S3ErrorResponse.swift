import NIOCore
import NIOHTTP1
import Verifier

/// The HTTP response for an `S3Error`: S3's XML body, its status, `Content-Type: application/xml` and the
/// request id. Rendering itself lives in `S3Error.xmlBody`; this only frames it for NIO.
struct S3ErrorResponse {
    var head: HTTPResponseHead
    var body: ByteBuffer

    /// - Parameters:
    ///   - resource: The request path, echoed in `<Resource>` as S3 does.
    ///   - close: Adds `Connection: close`, for replies after which the connection is closed.
    init(
        _ error: S3Error,
        resource: String?,
        requestId: String,
        close: Bool,
        isHEAD: Bool = false,
        allocator: ByteBufferAllocator
    ) {
        let xml = error.xmlBody(resource: resource, requestId: requestId)
        body = isHEAD ? allocator.buffer(capacity: 0) : allocator.buffer(string: xml)
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Content-Type", value: "application/xml")
        headers.add(name: "Content-Length", value: String(xml.utf8.count))
        headers.add(name: "x-amz-request-id", value: requestId)
        headers.add(name: "Server", value: "s3-sidecar")
        if error.code == .methodNotAllowed { headers.add(name: "Allow", value: ForwardingRules.allowHeaderValue) }
        if close { headers.add(name: "Connection", value: "close") }
        head = HTTPResponseHead(
            version: .http1_1,
            status: HTTPResponseStatus(statusCode: error.httpStatus),
            headers: headers
        )
    }
}
