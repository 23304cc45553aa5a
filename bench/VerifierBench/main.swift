// Verifier micro-benchmark: SigV4 verifications per second on one core (run it in release:
// `swift run -c release VerifierBench`). Requests are shaped like boto3's: a GET with seven headers,
// and a presigned GET; the signing key is cached, as it is for every request after a key's first of the day.
import Crypto
import Foundation
import Verifier

let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
let accessKey = "AKIAIOSFODNN7EXAMPLE"
let now: Int64 = 1_790_000_000

let verifier = SigV4Verifier(
    credentials: InMemoryCredentialStore([Credential(accessKeyId: accessKey, secretAccessKey: secret)])
)

/// Signs with the verifier's own public building blocks; the benchmark measures verification only.
func sign(method: String, uri: String, headers: [(name: String, value: String)], presign: Bool, date: String)
    -> S3RequestHead
{
    let scope = CredentialScope(date: String(date.prefix(8)), region: "us-east-1", service: "s3")
    let key = SigningKey(secretAccessKey: secret, date: scope.date, region: "us-east-1", service: "s3")
    var headers = headers
    var uri = uri
    let signedNames = headers.map { $0.name.lowercased() }.sorted()
    if presign {
        let credential = "\(accessKey)%2F\(scope.date)%2Fus-east-1%2Fs3%2Faws4_request"
        uri += "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\(credential)&X-Amz-Date=\(date)"
            + "&X-Amz-Expires=900&X-Amz-SignedHeaders=\(signedNames.joined(separator: "%3B"))"
    }
    let path = Substring(uri.split(separator: "?", maxSplits: 1).first!)
    let query = uri.contains("?") ? Substring(uri.split(separator: "?", maxSplits: 1)[1]) : ""
    let built = try! CanonicalRequest.build(
        method: method,
        rawPath: path,
        rawQuery: query,
        headers: headers,
        signedHeaders: signedNames,
        payloadHash: presign ? "UNSIGNED-PAYLOAD" : headers.first { $0.name == "x-amz-content-sha256" }!.value
    )
    let sts = CanonicalRequest.stringToSign(canonicalRequest: built.bytes, timestamp: date, scope: scope)
    let signature = key.signatureHex(sts)
    if presign {
        uri += "&X-Amz-Signature=" + signature
    } else {
        headers.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope), SignedHeaders=\(signedNames.joined(separator: ";")), Signature=\(signature)"
            )
        )
    }
    return S3RequestHead(method: method, uri: uri, headers: headers)
}

let date = AmzTimeText.basic(now)
let headerForm = sign(
    method: "GET",
    uri: "/photos/2026/09/holiday%20snaps/IMG_0042.jpg",
    headers: [
        ("Host", "s3.sidecar.internal:8080"),
        ("x-amz-date", date),
        ("x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("Range", "bytes=0-1048575"),
    ],
    presign: false,
    date: date
)
var headerFormWithExtras = headerForm
headerFormWithExtras.headers += [
    ("User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux lang/python#3.11.7"),
    ("amz-sdk-invocation-id", "401d0afa-047b-4347-abda-a1d1bd059703"),
    ("amz-sdk-request", "attempt=1"),
]
let presigned = sign(
    method: "GET",
    uri: "/photos/2026/09/holiday%20snaps/IMG_0042.jpg",
    headers: [("Host", "s3.sidecar.internal:8080")],
    presign: true,
    date: date
)

func measure(_ name: String, _ head: S3RequestHead, seconds: Double = 2.0) {
    // Warm up, and prove the request verifies.
    for _ in 0..<1000 { _ = try! verifier.authenticate(head, now: now) }
    let clock = ContinuousClock()
    var iterations = 0
    let start = clock.now
    let deadline = start + .milliseconds(Int(seconds * 1000))
    while clock.now < deadline {
        for _ in 0..<1000 {
            let auth = try! verifier.authenticate(head, now: now)
            precondition(!auth.signature.isEmpty)
        }
        iterations += 1000
    }
    let elapsed = clock.now - start
    let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let perSecond = Double(iterations) / secondsElapsed
    let micros = 1e6 / perSecond
    print(
        name.padding(toLength: 44, withPad: " ", startingAt: 0)
            + String(format: "%10.0f verifications/s  %6.2f µs each", perSecond, micros)
    )
}

/// Cost of one HMAC keyed afresh, for reference: what caching the keyed HMAC saves per request.
func measureFreshKeying() {
    let message = Array(repeating: UInt8(0x61), count: 140)
    let clock = ContinuousClock()
    let n = 200_000
    let start = clock.now
    var sink: UInt8 = 0
    for i in 0..<n {
        let key = SymmetricKey(data: [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 32))
        sink ^= Array(HMAC<SHA256>.authenticationCode(for: message, using: key))[0]
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(String(format: "reference: HMAC-SHA256 keyed afresh            %6.2f µs each (%d)", seconds / Double(n) * 1e6, sink))
}

print("SigV4 verification, one thread, cached signing key")
measure("header form (GET, 4 signed headers)", headerForm)
measure("header form + 3 unsigned SDK headers", headerFormWithExtras)
measure("presigned GET", presigned)
measureFreshKeying()

/// Cost of the two hashes every verification needs, for reference: the floor under the figures above.
func measureHashFloor() {
    let key = SigningKey(secretAccessKey: secret, date: "20260922", region: "us-east-1", service: "s3")
    let stringToSign = Array(repeating: UInt8(0x61), count: 150)
    let canonical = Array(repeating: UInt8(0x62), count: 320)
    let clock = ContinuousClock()
    let n = 300_000
    var sink: UInt8 = 0
    let start = clock.now
    for _ in 0..<n {
        sink ^= key.sign(stringToSign)[0]
        sink ^= Array(SHA256.hash(data: canonical))[0]
    }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print(String(format: "reference: cached-key HMAC + SHA-256 of request %6.2f µs each (%d)", seconds / Double(n) * 1e6, sink))
}
measureHashFloor()

/// Streaming checksum throughput, for the aws-chunked trailer path, with SHA-256 (signed chunks) beside it.
func measureChecksums() {
    let block = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    let clock = ContinuousClock()
    for algorithm in ChecksumAlgorithm.allCases {
        var checksum = StreamingChecksum(algorithm)
        let rounds = 256
        let start = clock.now
        block.withUnsafeBytes { raw in
            for _ in 0..<rounds { checksum.update(raw) }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        _ = checksum.finalize()
        print(
            "checksum " + algorithm.displayName.padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(format: "%8.0f MB/s", Double(rounds << 20) / seconds / 1e6)
        )
    }
}
measureChecksums()
