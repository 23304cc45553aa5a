import NIOCore

/// Where a Redis server is and how to talk to it.
///
/// ```swift
/// var redis = try RedisConfiguration(url: "rediss://sidecar@cache.internal:6380/2")
/// redis.password = passwordFromFileOrEnvironment   // never only on the command line
/// ```
public struct RedisConfiguration: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var host: String
    public var port: Int
    /// `rediss://`: TLS through swift-nio-ssl, the server's certificate and name verified.
    public var tls: Bool
    /// A PEM bundle of CAs to trust for TLS instead of the system's roots.
    public var tlsCAFile: String?
    /// For `AUTH user password` (Redis 6 ACLs); `nil`: `AUTH password` (the `default` user).
    public var username: String?
    /// `nil`: no `AUTH`. Never in a log, an error or `description`.
    public var password: String?
    /// `SELECT`ed after connecting when not 0.
    public var database: Int

    /// How long connecting may take, TCP, TLS, `AUTH`, `SELECT` and a `PING` together.
    public var connectTimeout: TimeAmount = .seconds(2)
    /// How long a reply may take. A command without one in time fails, and its connection is closed
    /// (the replies behind it can no longer be matched).
    public var commandTimeout: TimeAmount = .seconds(1)
    /// The wait before reconnecting after a failed connect: doubled on each failure up to the maximum, plus
    /// up to a fifth at random so that replicas do not reconnect in step. Meanwhile commands fail at once.
    public var reconnectBackoff: TimeAmount = .milliseconds(100)
    public var maxReconnectBackoff: TimeAmount = .seconds(2)
    /// Commands that may wait, per event loop, for a connection being made.
    public var maxWaitingCommands: Int = 1024
    /// Commands sent and not yet answered, per connection: beyond, commands fail at once (`unavailable`)
    /// instead of queueing behind a slow server without end.
    public var maxCommandsInFlight: Int = 4096
    /// What one reply may hold.
    var replyLimits = RESPDecoder.Limits()

    public init(
        host: String,
        port: Int = 6379,
        tls: Bool = false,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.username = username
        self.password = password
        self.database = database
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]` or `rediss://…` (TLS). User and password are
    /// percent-decoded; a host may be a bracketed IPv6 address; the port defaults to 6379, the database
    /// to 0.
    ///
    /// - Throws: `RedisConfigurationError`, whose message never repeats the URL (it may hold a password).
    public init(url: String) throws(RedisConfigurationError) {
        var rest = Substring(url)
        let lowered = url.lowercased()
        if lowered.hasPrefix("rediss://") {
            tls = true
            rest = rest.dropFirst("rediss://".count)
        } else if lowered.hasPrefix("redis://") {
            tls = false
            rest = rest.dropFirst("redis://".count)
        } else {
            throw RedisConfigurationError("the Redis URL must start with redis:// or rediss://")
        }
        if rest.contains("?") || rest.contains("#") {
            throw RedisConfigurationError(
                "the Redis URL takes no query or fragment (redis://[user:password@]host:port/db)"
            )
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let path = rest[authorityEnd...]

        username = nil
        password = nil
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = try Self.percentDecoded(userinfo[..<colon], field: "user name")
                username = user.isEmpty ? nil : user
                password = try Self.percentDecoded(userinfo[userinfo.index(after: colon)...], field: "password")
            } else {
                let user = try Self.percentDecoded(userinfo, field: "user name")
                username = user.isEmpty ? nil : user
            }
        }

        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw RedisConfigurationError("the Redis URL's IPv6 address lacks its closing ]")
            }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw RedisConfigurationError("the Redis URL has something other than :port after its IPv6 address")
                }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        guard !host.isEmpty else { throw RedisConfigurationError("the Redis URL names no host") }
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed), portText.allSatisfy(\.isASCIIDigit) else {
                throw RedisConfigurationError("the Redis URL's port must be a number from 1 to 65535")
            }
            port = parsed
        } else {
            port = 6379
        }

        let db = path.drop { $0 == "/" }
        if db.isEmpty {
            database = 0
        } else {
            guard db.allSatisfy(\.isASCIIDigit), let number = Int(db), number <= Int(Int32.max) else {
                throw RedisConfigurationError(
                    "the Redis URL's path must be a database number, as in redis://host:6379/0"
                )
            }
            database = number
        }
    }

    /// Checks what parsing alone cannot (a password may be set after parsing).
    public func validate() throws(RedisConfigurationError) {
        if username != nil && password == nil {
            throw RedisConfigurationError("a Redis user name needs a password")
        }
        guard connectTimeout > .zero, commandTimeout > .zero else {
            throw RedisConfigurationError("Redis timeouts must be positive")
        }
        guard maxWaitingCommands > 0, maxCommandsInFlight > 0 else {
            throw RedisConfigurationError("Redis command limits must be positive")
        }
    }

    /// The URL without the password: `redis://sidecar:***@cache.internal:6379/2`.
    public var redactedURL: String {
        var url = tls ? "rediss://" : "redis://"
        switch (username, password) {
        case (let user?, _?): url += "\(Self.percentEncoded(user)):***@"
        case (let user?, nil): url += "\(Self.percentEncoded(user))@"
        case (nil, _?): url += ":***@"
        case (nil, nil): break
        }
        url += host.contains(":") ? "[\(host)]" : host
        return url + ":\(port)/\(database)"
    }

    /// `redactedURL`: a configuration in a log or an error never shows its password.
    public var description: String { redactedURL }
    public var debugDescription: String { redactedURL }
    public var customMirror: Mirror { Mirror(self, children: ["url": redactedURL]) }

    // MARK: - Percent-encoding of the user information

    private static func percentDecoded(_ text: Substring, field: String) throws(RedisConfigurationError) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard utf8.count >= 2, let high = hexValue(utf8.popFirst()!), let low = hexValue(utf8.popFirst()!) else {
                throw RedisConfigurationError("the Redis URL's \(field) has a % not followed by two hex digits")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisConfigurationError("the Redis URL's \(field) is not UTF-8 once percent-decoded")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// A Redis URL or setting that cannot be used; the message names what is wrong and never repeats a secret.
public struct RedisConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
