import NIOCore
import NIOHTTP1
import Verifier

/// The reverse proxies allowed to say which host and path the client signed (`X-Forwarded-Host`,
/// `X-Forwarded-Proto`, `X-Forwarded-Prefix`). From any other peer those headers are ignored, so a client
/// cannot use them to make the sidecar verify a request other than the one it received.
public struct TrustedProxies: Sendable, Equatable {
    /// An address block, e.g. `10.0.0.0/8`, `192.0.2.7` (a single address) or `fd00::/8`.
    public struct CIDR: Sendable, Equatable, CustomStringConvertible {
        /// The network's address bytes (4 or 16).
        let network: [UInt8]
        let prefixLength: Int

        public struct ParseError: Error, CustomStringConvertible {
            public var description: String
        }

        /// Parses `address[/length]`; an IPv4 or IPv6 address in the usual text form.
        public init(_ text: String) throws(ParseError) {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let bytes = Self.addressBytes(String(parts[0])) else {
                throw ParseError(description: "\"\(text)\" is not an IP address or CIDR block")
            }
            let bits = bytes.count * 8
            var length = bits
            if parts.count == 2 {
                guard let n = Int(parts[1]), (0...bits).contains(n) else {
                    throw ParseError(description: "\"\(text)\": the prefix length must be 0 to \(bits)")
                }
                length = n
            }
            network = Self.masked(bytes, length)
            prefixLength = length
        }

        func contains(_ address: [UInt8]) -> Bool {
            address.count == network.count && Self.masked(address, prefixLength) == network
        }

        public var description: String {
            let address = (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: network), port: 0))?.ipAddress ?? "?"
            return "\(address)/\(prefixLength)"
        }

        static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
            bytes.enumerated().map { index, byte in
                let keep = min(8, max(0, length - index * 8))
                return keep == 8 ? byte : byte & ~(UInt8(0xFF) >> keep)
            }
        }

        /// The packed bytes of an IP address in text form (parsed by the system, through NIO).
        static func addressBytes(_ text: String) -> [UInt8]? {
            guard let address = try? SocketAddress(ipAddress: text, port: 0) else { return nil }
            return packedBytes(address)
        }
    }

    public var blocks: [CIDR]

    public init(_ blocks: [CIDR] = []) {
        self.blocks = blocks
    }

    /// No proxy is trusted: the default.
    public static let none = TrustedProxies()

    /// Whether `peer` is one of the trusted proxies. An IPv4 peer seen as an IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`, on a dual-stack listener) counts as its IPv4 address.
    public func trusts(_ peer: SocketAddress?) -> Bool {
        guard !blocks.isEmpty, let peer, let bytes = packedBytes(peer) else { return false }
        if bytes.count == 16, bytes.prefix(10).allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            let v4 = Array(bytes.suffix(4))
            if blocks.contains(where: { $0.contains(v4) }) { return true }
        }
        return blocks.contains { $0.contains(bytes) }
    }

    /// The head the client signed, as the verifier must see it: from a trusted peer, Host is
    /// `X-Forwarded-Host` and the path is `X-Forwarded-Prefix` + the received target. Anyone else's head
    /// is returned unchanged. The request forwarded upstream is never changed by this.
    ///
    /// When a header is repeated or holds a list, the last element counts: it is the one the nearest
    /// (trusted) proxy wrote.
    public func signedHead(_ head: S3RequestHead, peer: SocketAddress?) -> S3RequestHead {
        guard trusts(peer) else { return head }
        let forwardedHost = Self.lastElement(head, "x-forwarded-host")
        var prefix = Self.lastElement(head, "x-forwarded-prefix") ?? ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        if !prefix.isEmpty && !prefix.hasPrefix("/") { prefix = "/" + prefix }
        guard forwardedHost != nil || !prefix.isEmpty else { return head }
        var signed = head
        if let forwardedHost {
            signed.headers = head.headers.map { field in
                asciiCaseInsensitiveEquals(field.name, "host") ? (field.name, forwardedHost) : field
            }
            if !signed.headers.contains(where: { asciiCaseInsensitiveEquals($0.name, "host") }) {
                signed.headers.append(("Host", forwardedHost))
            }
        }
        signed.uri = prefix + head.uri
        return signed
    }

    private static func lastElement(_ head: S3RequestHead, _ name: String) -> String? {
        let values = head.headers.filter { asciiCaseInsensitiveEquals($0.name, name) }.map(\.value)
        guard let last = values.last?.split(separator: ",").last else { return nil }
        let trimmed = last.trimmingCharacters(in: " \t")
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// The packed address bytes of an IP socket address (4 for IPv4, 16 for IPv6).
private func packedBytes(_ address: SocketAddress) -> [UInt8]? {
    switch address {
    case .v4(let a):
        return withUnsafeBytes(of: a.address.sin_addr) { Array($0) }
    case .v6(let a):
        return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
    case .unixDomainSocket:
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
