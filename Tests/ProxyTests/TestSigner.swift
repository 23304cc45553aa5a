import Crypto
import Foundation
import Verifier

@testable import Proxy

/// Signs test requests in SigV4 header form with Verifier's canonical request and signing key.
struct TestSigner {
    var accessKeyId = "AKIDEXAMPLE"
    var secretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    var region = "us-east-1"
    /// 2026-01-02T03:04:05Z
    static let now: Int64 = 1_767_323_045

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        Hex.encode(Array(SHA256.hash(data: bytes)))
    }

    /// Returns the header list to send, `Authorization` last.
    func sign(
        method: String,
        uri: String,
        host: String = "s3.local",
        headers extra: [(String, String)] = [],
        payloadHash: String = "UNSIGNED-PAYLOAD",
        now: Int64 = TestSigner.now,
        secret: String? = nil
    ) -> [(name: String, value: String)] {
        let timestamp = Self.basic(now)
        var headers: [(name: String, value: String)] = [
            ("Host", host), ("x-amz-date", timestamp), ("x-amz-content-sha256", payloadHash),
        ]
        headers += extra.map { (name: $0.0, value: $0.1) }
        let signed = headers.map { $0.name.lowercased() }.sorted()
        let head = S3RequestHead(method: method, uri: uri, headers: headers)
        let scope = CredentialScope(date: String(timestamp.prefix(8)), region: region, service: "s3")
        let canonical = try! CanonicalRequest.build(
            method: method,
            rawPath: head.rawPath,
            rawQuery: head.rawQuery,
            headers: headers,
            signedHeaders: signed,
            payloadHash: payloadHash
        )
        let sts = CanonicalRequest.stringToSign(canonicalRequest: canonical.bytes, timestamp: timestamp, scope: scope)
        let key = SigningKey(
            secretAccessKey: secret ?? secretAccessKey,
            date: scope.date,
            region: region,
            service: "s3"
        )
        let signature = key.signatureHex(sts)
        headers.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(accessKeyId)/\(scope), "
                    + "SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"
            )
        )
        return headers
    }

    /// A presigned URI (path + query) for `method`.
    func presign(
        method: String,
        path: String,
        extraQuery: String = "",
        host: String = "s3.local",
        signing extra: [(String, String)] = [],
        expires: Int = 300,
        now: Int64 = TestSigner.now
    ) -> String {
        let timestamp = Self.basic(now)
        let scope = CredentialScope(date: String(timestamp.prefix(8)), region: region, service: "s3")
        let credential = "\(accessKeyId)/\(scope)".replacingOccurrences(of: "/", with: "%2F")
        let headers: [(name: String, value: String)] = [("Host", host)] + extra.map { (name: $0.0, value: $0.1) }
        let signed = headers.map { $0.name.lowercased() }.sorted()
        let query =
            extraQuery + (extraQuery.isEmpty ? "" : "&")
            + "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\(credential)&X-Amz-Date=\(timestamp)"
            + "&X-Amz-Expires=\(expires)&X-Amz-SignedHeaders=\(signed.joined(separator: "%3B"))"
        let canonical = try! CanonicalRequest.build(
            method: method,
            rawPath: Substring(path),
            rawQuery: Substring(query),
            headers: headers,
            signedHeaders: signed,
            payloadHash: "UNSIGNED-PAYLOAD"
        )
        let sts = CanonicalRequest.stringToSign(canonicalRequest: canonical.bytes, timestamp: timestamp, scope: scope)
        let key = SigningKey(secretAccessKey: secretAccessKey, date: scope.date, region: region, service: "s3")
        return path + "?" + query + "&X-Amz-Signature=" + key.signatureHex(sts)
    }

    var verifier: SigV4Verifier {
        SigV4Verifier(
            configuration: .init(regions: [region]),
            credentials: InMemoryCredentialStore([
                Credential(accessKeyId: accessKeyId, secretAccessKey: secretAccessKey)
            ])
        )
    }

    static func basic(_ seconds: Int64) -> String {
        // Days-from-civil inverse, enough for test timestamps.
        let days = Int(seconds / 86_400)
        let rem = Int(seconds % 86_400)
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", y, m, d, rem / 3600, (rem % 3600) / 60, rem % 60)
    }
}
