import NIOCore
import NIOHTTP1
import Verifier

/// Answers HTTP parse errors with an S3 XML error instead of NIO's bare `400`, then lets the decoder close
/// the connection.
///
/// Takes the place of NIO's `HTTPServerProtocolErrorHandler` (same position, same bookkeeping of whether a
/// response is under way), because every rejection must be an S3 error carrying a request id.
final class S3ProtocolErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var hasUnterminatedResponse = false
    /// A request head arrived and its `.end` has not.
    private var requestInFlight = false
    /// The in-flight request was already answered (an early error reply): a second reply would break
    /// HTTP/1.1 framing, so a later parse error only closes.
    private var inFlightRequestAnswered = false

    /// The S3 error for a parser error.
    static func s3Error(for error: HTTPParserError) -> S3Error {
        switch error {
        case .headerOverflow:
            S3Error(.requestHeaderSectionTooLarge, "Your request header section exceeds the maximum allowed size.")
        case .invalidEOFState:
            S3Error(
                .incompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            )
        case .unexpectedContentLength:
            S3Error(.invalidRequest, "The request's Content-Length is ambiguous or conflicts with Transfer-Encoding.")
        case .invalidContentLength:
            S3Error(.invalidRequest, "The request's Content-Length is not valid.")
        case .invalidVersion:
            S3Error(.invalidRequest, "The HTTP version is not supported.")
        case .invalidMethod:
            S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")
        case .invalidURL:
            S3Error(.invalidURI, "Couldn't parse the specified URI.")
        default:
            S3Error(.invalidRequest, "The request could not be parsed as HTTP/1.1 (\(error)).")
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // The decoder closes the channel as soon as we return: write now, no deferred work.
        if !hasUnterminatedResponse && !inFlightRequestAnswered {
            let response = S3ErrorResponse(
                Self.s3Error(for: parserError),
                resource: nil,
                requestId: RequestID.make(),
                close: true,
                allocator: context.channel.allocator
            )
            context.write(wrapOutboundOut(.head(response.head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestInFlight = true
            inFlightRequestAnswered = false
        case .body:
            break
        case .end:
            requestInFlight = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 100 && head.status.code < 200 && head.status.code != 101:
            break
        case .head:
            hasUnterminatedResponse = true
        case .body:
            break
        case .end:
            hasUnterminatedResponse = false
            if requestInFlight { inFlightRequestAnswered = true }
        }
        context.write(data, promise: promise)
    }
}
