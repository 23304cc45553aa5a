import NIOCore

/// A reply in RESP2, Redis's serialization protocol (https://redis.io/docs/latest/develop/reference/protocol-spec/).
public enum RESPValue: Sendable, Equatable {
    /// `+OK\r\n`
    case simpleString(String)
    /// `-ERR message\r\n`: an error reply is a value; the command was delivered and answered.
    case error(String)
    /// `:42\r\n`
    case integer(Int64)
    /// `$5\r\nhello\r\n`; `nil` for RESP2's null bulk string `$-1\r\n` (`GET` of a missing key, `SET NX` that
    /// did not set).
    case bulkString(ByteBuffer?)
    /// `*2\r\n…`; `nil` for the null array `*-1\r\n`.
    case array([RESPValue]?)

    /// A bulk or simple string as text.
    public var string: String? {
        switch self {
        case .simpleString(let text): text
        case .bulkString(let bytes?): String(buffer: bytes)
        default: nil
        }
    }

    /// Whether this is RESP2's null (`$-1` or `*-1`).
    public var isNull: Bool {
        switch self {
        case .bulkString(nil), .array(nil): true
        default: false
        }
    }
}

/// A command: an array of bulk strings, the form every Redis command takes on the wire.
public struct RESPCommand: Sendable, Equatable {
    public var arguments: [ByteBuffer]

    public init(_ name: String, _ arguments: [String] = []) {
        self.arguments = [ByteBuffer(string: name)] + arguments.map { ByteBuffer(string: $0) }
    }

    public init(arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    /// The command's name (`SET`, `EVALSHA`): what logs and errors may show. The arguments may hold a
    /// password (`AUTH`) and never leave the client.
    public var name: String {
        arguments.first.map { String(buffer: $0).uppercased() } ?? ""
    }
}

/// Writes commands as RESP arrays of bulk strings.
struct RESPCommandEncoder: MessageToByteEncoder {
    typealias OutboundIn = RESPCommand

    func encode(data: RESPCommand, out: inout ByteBuffer) {
        out.writeStaticString("*")
        out.writeString(String(data.arguments.count))
        out.writeStaticString("\r\n")
        for argument in data.arguments {
            out.writeStaticString("$")
            out.writeString(String(argument.readableBytes))
            out.writeStaticString("\r\n")
            out.writeImmutableBuffer(argument)
            out.writeStaticString("\r\n")
        }
    }
}
