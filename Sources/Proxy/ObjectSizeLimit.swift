import NIOHTTP1
import Verifier

/// The largest object an upload may carry (`PutObject`, `UploadPart`): a declared size over it is refused
/// at the head, before anything goes upstream; a body of unknown size (chunked) is counted as it streams
/// and the upload aborted once it passes the limit.
struct ObjectSizeLimit: Sendable {
    let maximum: Int64

    /// Whether the limit applies to this request at all: uploads are `PUT`s with a body.
    static func applies(to head: HTTPRequestHead) -> Bool {
        head.method == .PUT
    }

    /// Refuses a head whose declared object size is over the limit: `x-amz-decoded-content-length` for an
    /// aws-chunked body (its `Content-Length` counts the chunk framing too), `Content-Length` otherwise.
    func check(_ head: HTTPRequestHead, declaredLength: Int64?) throws(S3Error) {
        guard Self.applies(to: head) else { return }
        let decoded = head.headers.first(name: "x-amz-decoded-content-length").flatMap { Int64($0) }
        if let size = decoded ?? declaredLength, size > maximum { throw tooLarge(size) }
    }

    /// The error for an object of `size` bytes (or more, when counting stopped there).
    func tooLarge(_ size: Int64) -> S3Error {
        S3Error(
            .entityTooLarge,
            "Your proposed upload exceeds the maximum allowed size.",
            details: [.init("ProposedSize", String(size)), .init("MaxSizeAllowed", String(maximum))]
        )
    }
}
