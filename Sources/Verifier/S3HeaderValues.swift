/// What a few request headers mean to S3, read from their values (a comma-separated list already split and
/// trimmed, as NIO's `headers[canonicalForm:]` gives it): one reading for the proxy and the development store.
package enum S3HeaderValues {
    /// `Expect: 100-continue` (any case): the client waits for a go-ahead before it sends its body.
    package static func expectsContinue<Values: Sequence>(_ expect: Values) -> Bool
    where Values.Element: StringProtocol {
        expect.contains { $0.lowercased() == "100-continue" }
    }

    /// `Content-Encoding` names `aws-chunked`: the body is in aws-chunked framing.
    package static func isAWSChunked<Values: Sequence>(contentEncoding: Values) -> Bool
    where Values.Element: StringProtocol {
        contentEncoding.contains { $0.lowercased() == "aws-chunked" }
    }

    /// The content codings other than `aws-chunked`, which is framing between a client and S3 and never part
    /// of the object.
    package static func withoutAWSChunked<Values: Sequence>(contentEncoding: Values) -> [String]
    where Values.Element: StringProtocol {
        contentEncoding.filter { $0.lowercased() != "aws-chunked" }.map { String($0) }
    }
}
