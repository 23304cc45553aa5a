import Foundation
import Testing

/// boto3, a real S3 client, straight against DevStore (which ignores the signatures boto3 adds).
/// Skipped where Python or boto3 is missing.
@Suite("DevStore driven by boto3", .serialized)
struct Boto3Tests {
    static let boto3Available: Bool = {
        (try? runPython(script: "import boto3", environment: [:]).status) == 0
    }()

    @Test(
        "boto3: buckets, metadata, ranges, paginated listing, a 12 MB multipart upload_file and download",
        .enabled(if: boto3Available, "python3 with boto3 is not installed"),
        .timeLimit(.minutes(5))  // a safety net against a hang, not a speed check: CI machines are shared
    )
    func boto3EverydayCalls() async throws {
        try await DevStoreHarness.withStore { store in
            let result = try await TestHTTPClient.pool.runIfActive {
                try Self.runPython(
                    script: Self.script,
                    environment: ["DEVSTORE_PORT": String(store.port), "DEVSTORE_WORK": store.sandbox]
                )
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("boto3 ok"), "\(result.output)")
        }
    }

    /// Runs a Python script, returning its exit status and combined output.
    static func runPython(script: String, environment: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        // No proxy and no real credentials may interfere with a loopback test.
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "AWS_PROFILE", "AWS_ENDPOINT_URL"] {
            env[name] = nil
        }
        env["NO_PROXY"] = "127.0.0.1"
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
        import hashlib, os
        import boto3
        from botocore.config import Config
        from boto3.s3.transfer import TransferConfig

        port = os.environ["DEVSTORE_PORT"]
        work = os.environ["DEVSTORE_WORK"]
        s3 = boto3.client(
            "s3",
            endpoint_url="http://127.0.0.1:%s" % port,
            aws_access_key_id="devstore",
            aws_secret_access_key="devstore",
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

        s3.create_bucket(Bucket="boto")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["boto"]
        key = "hello world/\u00fc+x.txt"
        s3.put_object(Bucket="boto", Key=key, Body=b"hi there", ContentType="text/plain", Metadata={"k": "v"})
        got = s3.get_object(Bucket="boto", Key=key)
        assert got["Body"].read() == b"hi there"
        assert got["ContentType"] == "text/plain", got["ContentType"]
        assert got["Metadata"] == {"k": "v"}, got["Metadata"]
        assert got["ETag"] == '"%s"' % hashlib.md5(b"hi there").hexdigest()
        assert s3.get_object(Bucket="boto", Key=key, Range="bytes=3-")["Body"].read() == b"there"

        for i in range(5):
            s3.put_object(Bucket="boto", Key="p/%d" % i, Body=b"x")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket="boto", Prefix="p/", PaginationConfig={"PageSize": 2}
        )
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        assert keys == ["p/%d" % i for i in range(5)], keys
        rolled = s3.list_objects_v2(Bucket="boto", Delimiter="/")
        assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["hello world/", "p/"], rolled
        v1 = s3.list_objects(Bucket="boto", Prefix="p/", MaxKeys=3)
        assert [o["Key"] for o in v1["Contents"]] == ["p/0", "p/1", "p/2"] and v1["IsTruncated"]

        chunk = 5 * 1024 * 1024
        data = os.urandom(12 * 1024 * 1024)
        path = os.path.join(work, "big.bin")
        with open(path, "wb") as f:
            f.write(data)
        config = TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk)
        s3.upload_file(path, "boto", "big.bin", Config=config)
        head = s3.head_object(Bucket="boto", Key="big.bin")
        parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
        expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-%d" % len(parts)
        assert head["ETag"] == '"%s"' % expected, (head["ETag"], expected)
        assert head["ContentLength"] == len(data)
        out = os.path.join(work, "big.out")
        s3.download_file("boto", "big.bin", out, Config=config)
        with open(out, "rb") as f:
            assert f.read() == data

        try:
            s3.get_object(Bucket="boto", Key="missing")
            raise SystemExit("expected NoSuchKey")
        except s3.exceptions.NoSuchKey:
            pass

        s3.copy_object(Bucket="boto", Key="copy", CopySource={"Bucket": "boto", "Key": key})
        assert s3.get_object(Bucket="boto", Key="copy")["Body"].read() == b"hi there"
        deleted = s3.delete_objects(
            Bucket="boto", Delete={"Objects": [{"Key": k} for k in keys + ["big.bin", "copy", key]]}
        )
        assert len(deleted["Deleted"]) == 8, deleted
        s3.delete_bucket(Bucket="boto")
        print("boto3 ok")
        """#
}
