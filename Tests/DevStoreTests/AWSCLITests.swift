import Foundation
import Testing

/// The AWS CLI's high-level `aws s3` commands straight against DevStore. Skipped where `aws` is missing.
@Suite("DevStore driven by the AWS CLI", .serialized)
struct AWSCLITests {
    static let awsAvailable: Bool = {
        (try? run(script: "command -v aws >/dev/null", environment: [:]).status) == 0
    }()

    @Test(
        "aws s3: mb, cp of a 20 MB file (multipart), ls, cp back, server-side cp (part copies), rm --recursive, rb",
        .enabled(if: awsAvailable, "the AWS CLI is not installed"),
        .timeLimit(.minutes(5))  // a safety net against a hang, not a speed check: CI machines are shared
    )
    func everydayCommands() async throws {
        try await DevStoreHarness.withStore { store in
            let result = try await TestHTTPClient.pool.runIfActive {
                try Self.run(
                    script: Self.script,
                    environment: ["DEVSTORE_PORT": String(store.port), "DEVSTORE_WORK": store.sandbox]
                )
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("aws cli ok"), "\(result.output)")
        }
    }

    /// Runs a bash script with the environment a fresh user would have, returning status and output.
    static func run(script: String, environment: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", "-c", script]
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE", "AWS_ENDPOINT_URL"] {
            env[name] = nil
        }
        env["AWS_ACCESS_KEY_ID"] = "devstore"
        env["AWS_SECRET_ACCESS_KEY"] = "devstore"
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        env["AWS_CONFIG_FILE"] = "/dev/null"
        env["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    static let script = #"""
        set -euo pipefail
        endpoint="http://127.0.0.1:$DEVSTORE_PORT"
        s3() { aws --endpoint-url "$endpoint" s3 "$@"; }
        cd "$DEVSTORE_WORK"
        head -c 20000000 /dev/urandom > big.bin
        echo "small file" > "small file+x.txt"
        s3 mb s3://cli
        s3 cp big.bin s3://cli/dir/big.bin --only-show-errors
        s3 cp "small file+x.txt" "s3://cli/dir/sub/small file+x.txt" --only-show-errors
        listing="$(s3 ls s3://cli/dir/)"
        echo "$listing"
        grep -q "PRE sub/" <<<"$listing"
        grep -q "20000000 big.bin" <<<"$listing"
        s3 ls --recursive s3://cli | grep -q "dir/sub/small file+x.txt"
        s3 cp s3://cli/dir/big.bin back.bin --only-show-errors
        cmp big.bin back.bin
        etag="$(aws --endpoint-url "$endpoint" s3api head-object --bucket cli --key dir/big.bin --query ETag --output text)"
        case "$etag" in *-3\"|*-3) ;; *) echo "unexpected multipart ETag $etag"; exit 1 ;; esac
        # Above the CLI's 8 MB threshold a copy is a multipart upload of UploadPartCopy parts.
        s3 cp s3://cli/dir/big.bin s3://cli/copy.bin --only-show-errors
        s3 cp s3://cli/copy.bin copy.bin --only-show-errors
        cmp big.bin copy.bin
        s3 rm --recursive s3://cli --only-show-errors
        s3 rb s3://cli
        echo "aws cli ok"
        """#
}
