import Foundation
import NIOHTTP1
import Verifier

/// One answer of the presign API: a status, extra headers and the JSON envelope.
///
/// Success: `{"success": true, "timestamp", "requestId", "data"}`; failure: `{"success": false, "code",
/// "error" (the status title), "message", "requestId", "timestamp"}`. Every reply is built here.
struct PresignAPIResponse {
    var status: HTTPResponseStatus
    var headers: [(String, String)]
    var body: [UInt8]
    /// The envelope's request id, for log lines.
    var requestId: String
    /// The envelope's `code` for a failure.
    var code: String?

    /// The error codes of the envelope, with their status.
    struct Failure: Error {
        enum Code: String {
            case unauthorized = "UNAUTHORIZED"
            case forbidden = "FORBIDDEN"
            case validation = "VALIDATION_ERROR"
            case rateLimited = "RATE_LIMITED"
            case notFound = "NOT_FOUND"
            case methodNotAllowed = "METHOD_NOT_ALLOWED"
            case payloadTooLarge = "PAYLOAD_TOO_LARGE"
            case upstream = "UPSTREAM_ERROR"
            case `internal` = "INTERNAL_ERROR"

            var status: HTTPResponseStatus {
                switch self {
                case .unauthorized: .unauthorized
                case .forbidden: .forbidden
                case .validation: .badRequest
                case .rateLimited: .tooManyRequests
                case .notFound: .notFound
                case .methodNotAllowed: .methodNotAllowed
                case .payloadTooLarge: .payloadTooLarge
                case .upstream: .badGateway
                case .internal: .internalServerError
                }
            }
        }

        var code: Code
        var message: String
        /// The request field at fault, for `VALIDATION_ERROR`.
        var field: String?
        var headers: [(String, String)] = []

        static func validation(_ field: String, _ message: String) -> Failure {
            Failure(code: .validation, message: message, field: field)
        }
    }

    private struct SuccessEnvelope<Data: Encodable>: Encodable {
        var success = true
        var timestamp: String
        var requestId: String
        var data: Data
    }

    private struct FailureEnvelope: Encodable {
        var success = false
        var code: String
        var error: String
        var message: String
        var field: String?
        var requestId: String
        var timestamp: String
    }

    static func success(
        _ data: some Encodable,
        requestId: String,
        nowMillis: Int64,
        headers: [(String, String)] = []
    ) -> PresignAPIResponse {
        let envelope = SuccessEnvelope(timestamp: timestamp(nowMillis), requestId: requestId, data: data)
        guard let body = try? encoder.encode(envelope) else {
            return failure(
                Failure(code: .internal, message: "the response could not be encoded"),
                requestId: requestId,
                nowMillis: nowMillis
            )
        }
        return PresignAPIResponse(status: .ok, headers: headers, body: Array(body), requestId: requestId)
    }

    static func failure(
        _ failure: Failure,
        requestId: String,
        nowMillis: Int64,
        headers: [(String, String)] = []
    ) -> PresignAPIResponse {
        let status = failure.code.status
        let envelope = FailureEnvelope(
            code: failure.code.rawValue,
            error: status.reasonPhrase,
            message: failure.message,
            field: failure.field,
            requestId: requestId,
            timestamp: timestamp(nowMillis)
        )
        // Only Strings in it: encoding cannot fail.
        let body = (try? encoder.encode(envelope)) ?? Data()
        return PresignAPIResponse(
            status: status,
            headers: headers + failure.headers,
            body: Array(body),
            requestId: requestId,
            code: failure.code.rawValue
        )
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        // `/` unescaped: URLs read as URLs.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// `2026-02-10T00:00:00.000Z`.
    static func timestamp(_ millis: Int64) -> String {
        let seconds = millis >= 0 ? millis / 1000 : (millis - 999) / 1000
        let fraction = Int(millis - seconds * 1000)
        let base = AmzTime.formatExtended(seconds)  // 2026-02-10T00:00:00Z
        let digits = String(fraction)
        return base.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }
}
