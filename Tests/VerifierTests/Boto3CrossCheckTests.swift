import Foundation
import Testing

@testable import Verifier

/// Requests signed by boto3/botocore, the reference client, at test time (`scripts/boto3-signed-requests.py`):
/// every one verifies, and a single flipped signature digit fails it.
///
/// Needs `python3` with boto3 (`.ci/run` installs it). Without them the suite is skipped on a developer
/// machine, and fails under CI, where a skipped cross-check would hide a regression.
@Suite("boto3 cross-check", .enabled(if: Boto3.available || Boto3.required))
struct Boto3CrossCheckTests {
    struct Output: Decodable {
        struct Request: Decodable {
            var operation: String
            var method: String
            var uri: String
            var headers: [[String]]
        }
        var accessKeyId: String
        var secretAccessKey: String
        var requests: [Request]
    }

    @Test("boto3-signed requests verify; a flipped signature digit does not", arguments: [11, 22, 33] as [Int])
    func boto3RequestsVerify(seed: Int) throws {
        let output = try Boto3.run(seed: seed, count: 150)
        let verifier = SigV4Verifier(
            credentials: InMemoryCredentialStore([
                Credential(accessKeyId: output.accessKeyId, secretAccessKey: output.secretAccessKey)
            ])
        )
        #expect(output.requests.count == 150)
        var operations: Set<String> = []
        for request in output.requests {
            operations.insert(request.operation)
            let head = S3RequestHead(
                method: request.method,
                uri: request.uri,
                headers: request.headers.map { (name: $0[0], value: $0[1]) }
            )
            let query = QueryParameters(rawQuery: head.rawQuery)
            let date = head.firstValue(of: "x-amz-date") ?? query?.value("X-Amz-Date") ?? ""
            let now = try #require(AmzTime.parseBasic(date))
            do {
                let auth = try verifier.authenticate(head, now: now)
                #expect(auth.accessKeyId == output.accessKeyId)
            } catch {
                Issue.record("\(request.operation) \(request.uri): \(error)\n\(error.detail("CanonicalRequest") ?? "")")
                continue
            }
            // Flip the last hex digit of the signature, wherever it travels.
            var tampered = head
            if let index = head.headers.firstIndex(where: { $0.name == "Authorization" }) {
                tampered.headers[index].value = flipLastHexDigit(head.headers[index].value)
            } else {
                tampered.uri = tampered.uri.replacingOccurrences(
                    of: #"(X-Amz-Signature=[0-9a-f]{63})([0-9a-f])"#,
                    with: "$1" + "Z",
                    options: .regularExpression
                )
            }
            #expect(throws: S3Error.self) { try verifier.authenticate(tampered, now: now) }
        }
        #expect(operations.count >= 8, "the random mix should cover most operations: \(operations)")
    }

    private func flipLastHexDigit(_ s: String) -> String {
        var bytes = Array(s.utf8)
        bytes[bytes.count - 1] = bytes[bytes.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum Boto3 {
    static let script: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/boto3-signed-requests.py")

    /// CI must run the cross-check, never skip it.
    static let required: Bool = ProcessInfo.processInfo.environment["CI"] == "true"

    static let available: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import boto3"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        } catch {
            return false
        }
    }()

    static func run(seed: Int, count: Int) throws -> Boto3CrossCheckTests.Output {
        try JSONDecoder().decode(
            Boto3CrossCheckTests.Output.self,
            from: try runScript(script, arguments: ["--seed", String(seed), "--count", String(count)])
        )
    }

    /// Runs a Python script of ours and returns what it printed.
    static func runScript(_ script: URL, arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw S3Error(.internalError, "\(script.lastPathComponent) exited with \(process.terminationStatus)")
        }
        return data
    }
}
