import NIOHTTP1
import Testing
import Verifier

@testable import Proxy

@Suite("RequestFraming")
struct RequestFramingTests {
    private func framing(_ headers: [(String, String)]) throws(S3Error) -> RequestFraming {
        try RequestFraming.validate(HTTPHeaders(headers))
    }

    @Test("no framing headers means no body; Content-Length and chunked are read")
    func accepted() throws {
        #expect(try framing([]) == RequestFraming.none)
        #expect(try framing([("Content-Length", "12")]) == .contentLength(12))
        #expect(try framing([("content-length", "7"), ("Content-Length", "7")]) == .contentLength(7))
        #expect(try framing([("Transfer-Encoding", "chunked")]) == .chunked)
        #expect(try framing([("Content-Length", "0")]).hasBody == false)
    }

    @Test(
        "ambiguous framing is refused with 400",
        arguments: [
            [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
            [("Content-Length", "5"), ("Content-Length", "6")],
            [("Content-Length", "5, 6")],
            [("Content-Length", "-1")],
            [("Content-Length", "0x10")],
            [("Content-Length", "")],
        ]
    )
    func ambiguous(_ headers: [(String, String)]) {
        do {
            _ = try framing(headers)
            Issue.record("accepted \(headers)")
        } catch {
            #expect(error.httpStatus == 400)
        }
    }

    @Test("a transfer coding other than chunked is refused")
    func otherCodings() {
        for value in ["gzip", "gzip, chunked", "chunked, chunked"] {
            #expect(throws: S3Error.self) { try framing([("Transfer-Encoding", value)]) }
        }
    }
}
