import Crypto
import Foundation
import Verifier

/// An S3 SigV4 signer written for the tests, independently of the Verifier: Foundation string APIs,
/// HMAC keyed afresh each time, its own encoding. It signs what a client means (a key, decoded query
/// pairs, headers) and produces what a client sends (a wire URI, header fields).
struct TestSigner {
    var accessKeyId: String
    var secret: String
    var region = "us-east-1"
    var service = "s3"
    var sessionToken: String?

    /// How the wire form of the path encodes characters that may legally travel raw in a path.
    enum PathStyle {
        /// Every byte except unreserved characters and `/` is percent-encoded (botocore).
        case encodeAll
        /// Sub-delimiters such as `$`, `+`, `=`, `!` travel raw; the rest is encoded.
        case rawSubDelims
    }

    static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    )

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved)!
    }

    static func encodePath(_ path: String, style: PathStyle) -> String {
        var allowed = unreserved
        allowed.insert("/")
        if style == .rawSubDelims { allowed.insert(charactersIn: "!$&'()*+,;=:@") }
        return path.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    static func amzDate(_ seconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    func signature(stringToSign: String, date: String) -> String {
        func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
            Array(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: key)))
        }
        let kDate = hmac(Array("AWS4\(secret)".utf8), date)
        let kSigning = hmac(hmac(hmac(kDate, region), service), "aws4_request")
        return Self.hex(hmac(kSigning, stringToSign))
    }

    struct Signed {
        var head: S3RequestHead
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
    }

    /// - Parameters:
    ///   - path: The decoded path (`/bucket/key with spaces`).
    ///   - query: Decoded query pairs.
    ///   - headers: Headers to send and sign (host included by the caller).
    ///   - unsignedHeaders: Headers to send but not sign.
    func sign(
        method: String,
        path: String,
        query: [(String, String)] = [],
        headers: [(String, String)],
        unsignedHeaders: [(String, String)] = [],
        payloadHash: String = "UNSIGNED-PAYLOAD",
        time: Int64,
        presignExpires: Int64? = nil,
        pathStyle: PathStyle = .encodeAll,
        plusForSpaceInQuery: Bool = false
    ) -> Signed {
        let date = Self.amzDate(time)
        let scope = "\(date.prefix(8))/\(region)/\(service)/aws4_request"
        var headers = headers
        var query = query
        if presignExpires == nil {
            headers.append(("X-Amz-Date", date))
            headers.append(("x-amz-content-sha256", payloadHash))
            if let sessionToken { headers.append(("X-Amz-Security-Token", sessionToken)) }
        }
        let names = Set(headers.map { $0.0.lowercased() }).sorted()
        let signedHeaders = names.joined(separator: ";")
        if let presignExpires {
            query.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
            query.append(("X-Amz-Credential", "\(accessKeyId)/\(scope)"))
            query.append(("X-Amz-Date", date))
            query.append(("X-Amz-Expires", String(presignExpires)))
            query.append(("X-Amz-SignedHeaders", signedHeaders))
            if let sessionToken { query.append(("X-Amz-Security-Token", sessionToken)) }
        }

        var encodedPairs: [(String, String)] = query.map { (Self.encode($0.0), Self.encode($0.1)) }
        encodedPairs.sort { (a: (String, String), b: (String, String)) -> Bool in
            a.0 != b.0 ? Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8))
                : Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
        }
        let canonicalQuery = encodedPairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalHeaders = names.map { name in
            let values = headers.filter { $0.0.lowercased() == name }.map {
                $0.1.split(whereSeparator: { $0 == " " }).joined(separator: " ")
            }
            return "\(name):\(values.joined(separator: ","))\n"
        }.joined()
        let canonicalPath = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.encode(String($0)) }.joined(separator: "/")
        let canonicalRequest = [
            method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders,
            presignExpires == nil ? payloadHash : "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let stringToSign = [
            "AWS4-HMAC-SHA256", date, scope,
            Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8))),
        ].joined(separator: "\n")
        let signature = signature(stringToSign: stringToSign, date: String(date.prefix(8)))

        var wireQuery = query.map { pair -> String in
            var name = Self.encode(pair.0)
            var value = Self.encode(pair.1)
            if plusForSpaceInQuery {
                name = name.replacingOccurrences(of: "%20", with: "+")
                value = value.replacingOccurrences(of: "%20", with: "+")
            }
            return "\(name)=\(value)"
        }
        if presignExpires != nil { wireQuery.append("X-Amz-Signature=\(signature)") }
        var uri = Self.encodePath(path, style: pathStyle)
        if !wireQuery.isEmpty { uri += "?" + wireQuery.joined(separator: "&") }

        var fields = headers.map { (name: $0.0, value: $0.1) }
        fields += unsignedHeaders.map { (name: $0.0, value: $0.1) }
        if presignExpires == nil {
            fields.append(
                (
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=\(accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
                )
            )
        }
        return Signed(
            head: S3RequestHead(method: method, uri: uri, headers: fields),
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature
        )
    }
}

/// A seeded random generator, so that every property-test failure can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
