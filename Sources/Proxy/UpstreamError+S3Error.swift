import Verifier

extension UpstreamError {
    /// The S3-style error a client gets when its request could not be carried to the upstream.
    var s3Error: S3Error {
        switch self {
        case .connectFailed:
            S3Error(.badGateway, "The sidecar could not connect to the upstream backend.")
        case .closed:
            S3Error(.badGateway, "The upstream backend closed the connection before it answered.")
        case .connectTimeout:
            S3Error(.serviceUnavailable, "The upstream backend did not accept a connection in time.")
        case .timeout:
            S3Error(.serviceUnavailable, "The upstream backend did not answer in time.")
        case .poolExhausted, .poolWaitTimeout:
            S3Error(.slowDown, "Please reduce your request rate.")
        case .unexpectedInterimResponse:
            S3Error(.badGateway, "The upstream backend answered with an interim response S3 never sends.")
        case .shutDown:
            S3Error(.serviceUnavailable, "The sidecar is shutting down.")
        }
    }
}
