import Logging
import NIOCore
import Verifier

/// The access log: one line per request, however it ended, through a `Logger` of the executable's choice
/// (the sidecar gives it a JSON or text handler and a destination).
///
/// A record holds what is safe to log: the path but never the query (a presigned URL's query is a bearer
/// credential), the access key id but never a secret, signature or `Authorization` value.
public struct AccessLog: Sendable {
    /// How an exchange ended.
    public enum Outcome: String, Sendable {
        /// The upstream's response went to the client in full.
        case forwarded
        /// The sidecar answered with an S3 error; the upstream got nothing, or an aborted request.
        case refused
        /// The connection was cut mid-exchange (a failed body check after the response began, a client or
        /// upstream that went away).
        case aborted
        /// `/auth` (nginx `auth_request`) let the request through; its refusals are `refused`.
        case authorized
    }

    /// The fields of one line.
    public struct Record: Sendable, Equatable {
        public var requestId: String
        /// The client's address (kept as is: formatted only when a line is written).
        public var peer: SocketAddress?
        public var method: String
        /// The raw request target; only its path is ever logged.
        public var uri: String
        public var accessKeyId: String?
        /// `header` or `presigned`.
        public var authForm: String?
        /// 4 or 2.
        public var signatureVersion: Int?
        public var bucket: String?
        public var key: String?
        /// The policy action (`read`, `write`, `delete`, `list`, `multipart`).
        public var action: String?
        /// The status the client got; 0 when the connection was cut before any response.
        public var status: Int = 0
        /// The S3 error code the sidecar answered with, if it did.
        public var errorCode: String?
        /// Request body bytes received from the client.
        public var bytesIn: Int64 = 0
        /// Response body bytes sent to the client.
        public var bytesOut: Int64 = 0
        /// The upstream's status, if it answered.
        public var upstreamStatus: Int?
        public var outcome: Outcome = .refused
        /// When the head arrived (monotonic).
        var started: NIODeadline
        public var durationNanoseconds: Int64 = 0

        public init(requestId: String, peer: SocketAddress?, method: String, uri: String, started: NIODeadline) {
            self.requestId = requestId
            self.peer = peer
            self.method = method
            self.uri = uri
            self.started = started
        }

        /// The raw request path, without the query (a presigned URL's query is a credential).
        public var path: String { ProxyHandler.resource(of: uri) }

        /// The client's address as `ip:port`.
        public var remoteAddress: String? { peer?.accessLogDescription }

        /// Fills what authentication and classification found out.
        mutating func authenticated(_ auth: AuthenticatedRequest) {
            accessKeyId = auth.accessKeyId
            authForm = auth.form.rawValue
            signatureVersion = auth.signatureVersion.rawValue
        }

        mutating func classified(_ operation: S3Operation) {
            bucket = operation.bucket
            key = operation.key
            action = operation.action.rawValue
        }

        /// Closes the record at `now`.
        mutating func finish(_ outcome: Outcome, status: Int, error: S3Error.Code? = nil, now: NIODeadline) {
            self.outcome = outcome
            self.status = status
            if let error { errorCode = error.s3Code }
            durationNanoseconds = max(0, (now - started).nanoseconds)
        }

        /// The record as log metadata: numbers stay numbers (a JSON handler writes them as such), absent
        /// fields are left out.
        public var metadata: Logger.Metadata {
            var m: Logger.Metadata = [
                "request_id": .string(requestId),
                "method": .string(method),
                "path": .string(path),
                "status": .stringConvertible(status),
                "outcome": .string(outcome.rawValue),
                "bytes_in": .stringConvertible(bytesIn),
                "bytes_out": .stringConvertible(bytesOut),
                "duration_ms": .stringConvertible(Double(durationNanoseconds / 1000) / 1000),
            ]
            if let remoteAddress { m["remote_addr"] = .string(remoteAddress) }
            if let accessKeyId { m["access_key_id"] = .string(accessKeyId) }
            if let authForm { m["auth_form"] = .string(authForm) }
            if let signatureVersion { m["signature_version"] = .stringConvertible(signatureVersion) }
            if let bucket { m["bucket"] = .string(bucket) }
            if let key { m["key"] = .string(key) }
            if let action { m["action"] = .string(action) }
            if let errorCode { m["error_code"] = .string(errorCode) }
            if let upstreamStatus { m["upstream_status"] = .stringConvertible(upstreamStatus) }
            return m
        }
    }

    private let logger: Logger?

    /// - Parameter logger: Where the lines go; `nil` turns the log off (metrics are still counted).
    public init(logger: Logger?) {
        self.logger = logger
    }

    /// Counts the finished exchange in the metrics and writes its line.
    func write(_ record: Record) {
        ProxyMetrics.finished(record)
        logger?.info("access", metadata: record.metadata)
    }

    /// Writes the line of an `/auth` verdict (message `auth_request`); `/auth` keeps its own counters.
    func writeVerdict(_ record: Record) {
        logger?.info("auth_request", metadata: record.metadata)
    }
}

extension SocketAddress {
    /// The peer as `ip:port` (`[ip]:port` for IPv6), for the access log.
    var accessLogDescription: String? {
        guard let ip = ipAddress else { return nil }
        let host = ip.contains(":") ? "[\(ip)]" : ip
        return port.map { "\(host):\($0)" } ?? host
    }
}
