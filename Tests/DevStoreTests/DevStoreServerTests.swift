import Foundation
import Logging
import NIOPosix
import Testing

@testable import DevStore

#if canImport(Glibc)
import Glibc
#endif

/// End to end over loopback: a real DevStore on port 0 in a temporary directory, driven by a plain
/// socket client.
@Suite("DevStore server over loopback", .serialized)
struct DevStoreServerTests {
    // MARK: - Buckets

    @Test("bucket lifecycle: create, conflict, head, list, not-empty delete, delete")
    func bucketLifecycle() async throws {
        try await DevStoreHarness.withStore { store in
            #expect(try await store.request("PUT", "/photos").status == 200)
            let again = try await store.request("PUT", "/photos")
            #expect(again.status == 409)
            #expect(again.errorCode == "BucketAlreadyOwnedByYou")
            #expect(try await store.request("HEAD", "/photos").status == 200)
            try await store.createBucket("alpha.bucket-1")

            let list = try await store.request("GET", "/")
            #expect(list.status == 200)
            #expect(list.text.contains("xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""))
            #expect(XMLText.all("Name", in: list.text) == ["alpha.bucket-1", "photos"])

            #expect(try await store.request("PUT", "/photos/cat.jpg", body: Array("meow".utf8)).status == 200)
            let notEmpty = try await store.request("DELETE", "/photos")
            #expect(notEmpty.status == 409)
            #expect(notEmpty.errorCode == "BucketNotEmpty")
            #expect(try await store.request("DELETE", "/photos/cat.jpg").status == 204)
            #expect(try await store.request("DELETE", "/photos").status == 204)
            #expect(try await store.request("HEAD", "/photos").status == 404)
            let gone = try await store.request("GET", "/photos?list-type=2")
            #expect(gone.status == 404)
            #expect(gone.errorCode == "NoSuchBucket")
        }
    }

    @Test("invalid bucket names are refused with InvalidBucketName")
    func invalidBucketNames() async throws {
        try await DevStoreHarness.withStore { store in
            for name in [
                "ab", "Upper", "_devstore", ".devstore", "a..b", "192.168.1.1", "-dash",
                String(repeating: "a", count: 64), "%2e%2e",
            ] {
                let response = try await store.request("PUT", "/\(name)")
                #expect(response.status == 400, "\(name)")
                #expect(response.errorCode == "InvalidBucketName", "\(name)")
            }
            #expect(DevStoreHarness.files(under: store.dataDirectory + "/buckets").isEmpty)
        }
    }

    @Test("a restarted store serves what it stored, and sweeps temporary files a crash left behind")
    func restartKeepsData() async throws {
        try await DevStoreHarness.withStore { first in
            try await first.createBucket("durable")
            _ = try await first.request("PUT", "/durable/k", headers: [("x-amz-meta-a", "b")], body: Array("kept".utf8))
            try await first.server.shutdown()
            let stray = first.dataDirectory + "/.devstore/tmp/left-by-a-crash"
            #expect(FileManager.default.createFile(atPath: stray, contents: Data([1, 2, 3])))

            var logger = Logger(label: "devstore-test")
            logger.logLevel = .warning
            let second = try await DevStoreServer.start(
                configuration: DevStoreConfiguration(dataDirectory: first.dataDirectory),
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                logger: logger
            )
            let get = try await TestHTTPClient.request(port: second.port, "GET", "/durable/k")
            let buckets = try await TestHTTPClient.request(port: second.port, "GET", "/")
            try await second.shutdown()
            #expect(get.text == "kept")
            #expect(get.header("x-amz-meta-a") == "b")
            #expect(XMLText.all("Name", in: buckets.text) == ["durable"])
            #expect(!FileManager.default.fileExists(atPath: stray))
        }
    }

    // MARK: - Objects

    @Test("put, get, head and delete keep bytes, ETag, Content-Type and x-amz-meta-*")
    func objectRoundTrip() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("docs")
            let body = Array("hello, development store".utf8)
            let put = try await store.request(
                "PUT",
                "/docs/greeting.txt",
                headers: [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("x-amz-meta-author", "Ada"),
                    ("X-Amz-Meta-Mixed-Case", "Value With Spaces"),
                    ("Cache-Control", "no-cache"),
                    ("X-Sidecar-Access-Key", "AKIDEXAMPLE"),
                ],
                body: body
            )
            #expect(put.status == 200)
            let expectedETag = "\"\(TestMD5.hex(body))\""
            #expect(put.header("ETag") == expectedETag)

            let get = try await store.request("GET", "/docs/greeting.txt")
            #expect(get.status == 200)
            #expect(get.body == body)
            #expect(get.header("ETag") == expectedETag)
            #expect(get.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(get.header("Content-Length") == String(body.count))
            #expect(get.header("x-amz-meta-author") == "Ada")
            #expect(get.header("x-amz-meta-mixed-case") == "Value With Spaces")
            #expect(get.header("Cache-Control") == "no-cache")
            #expect(get.header("Last-Modified")?.hasSuffix(" GMT") == true)
            #expect(get.header("x-amz-request-id") != nil)

            let head = try await store.request("HEAD", "/docs/greeting.txt")
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == String(body.count))
            #expect(head.header("ETag") == expectedETag)
            #expect(head.body.isEmpty)

            // Overwrite: the new content and metadata replace the old entirely.
            let second = Array("v2".utf8)
            #expect(try await store.request("PUT", "/docs/greeting.txt", body: second).status == 200)
            let replaced = try await store.request("GET", "/docs/greeting.txt")
            #expect(replaced.body == second)
            #expect(replaced.header("x-amz-meta-author") == nil)
            #expect(replaced.header("Content-Type") == "binary/octet-stream")

            #expect(try await store.request("DELETE", "/docs/greeting.txt").status == 204)
            #expect(try await store.request("DELETE", "/docs/greeting.txt").status == 204)
            let missing = try await store.request("GET", "/docs/greeting.txt")
            #expect(missing.status == 404)
            #expect(missing.errorCode == "NoSuchKey")
            #expect(try await store.request("HEAD", "/docs/greeting.txt").status == 404)
            // Only the bucket's own record is left: deleting removed data and metadata alike.
            #expect(DevStoreHarness.files(under: store.dataDirectory + "/buckets/docs") == ["bucket.json"])
        }
    }

    @Test("Content-MD5 is checked: a mismatch is BadDigest and stores nothing")
    func contentMD5() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("digest")
            let body = Array("checked".utf8)
            let good = Data(TestMD5.digest(body)).base64EncodedString()
            let wrong = Data(TestMD5.digest(Array("other".utf8))).base64EncodedString()
            #expect(
                try await store.request("PUT", "/digest/good", headers: [("Content-MD5", good)], body: body).status
                    == 200
            )
            let bad = try await store.request("PUT", "/digest/bad", headers: [("Content-MD5", wrong)], body: body)
            #expect(bad.status == 400)
            #expect(bad.errorCode == "BadDigest")
            #expect(
                try await store.request("PUT", "/digest/bad", headers: [("Content-MD5", "nope")], body: body).errorCode
                    == "InvalidDigest"
            )
            #expect(try await store.request("GET", "/digest/bad").errorCode == "NoSuchKey")
            #expect(store.temporaryFiles.isEmpty)
        }
    }

    @Test("conditional GET: If-None-Match gives 304, If-Match mismatch gives 412 PreconditionFailed")
    func conditionalGet() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("cond")
            let put = try await store.request("PUT", "/cond/k", body: Array("v1".utf8))
            let etag = try #require(put.header("ETag"))
            let notModified = try await store.request("GET", "/cond/k", headers: [("If-None-Match", etag)])
            #expect(notModified.status == 304)
            #expect(notModified.body.isEmpty)
            #expect(try await store.request("GET", "/cond/k", headers: [("If-None-Match", "\"other\"")]).status == 200)
            #expect(try await store.request("GET", "/cond/k", headers: [("If-Match", etag)]).text == "v1")
            let failed = try await store.request("GET", "/cond/k", headers: [("If-Match", "\"other\"")])
            #expect(failed.status == 412)
            #expect(failed.errorCode == "PreconditionFailed")
            let future = "Fri, 01 Jan 2100 00:00:00 GMT"
            #expect(try await store.request("HEAD", "/cond/k", headers: [("If-Modified-Since", future)]).status == 304)
            #expect(
                try await store.request(
                    "GET",
                    "/cond/k",
                    headers: [("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")]
                ).status == 412
            )
        }
    }

    @Test("shutdown closes idle keep-alive connections promptly")
    func shutdownClosesIdleConnections() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("idle")
            async let closedByServer = TestHTTPClient.withConnection(port: store.port) { connection in
                try connection.sendHead(method: "GET", target: "/idle?list-type=2", headers: [], contentLength: nil)
                _ = try connection.readResponse()
                return try connection.isClosedByPeer()
            }
            try await Task.sleep(for: .milliseconds(300))
            let clock = ContinuousClock()
            let elapsed = try await clock.measure { try await store.server.shutdown() }
            #expect(try await closedByServer)
            #expect(elapsed < .seconds(5))
        }
    }

    @Test("an empty object round-trips with the MD5 of nothing")
    func emptyObject() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("empty")
            let put = try await store.request("PUT", "/empty/nothing")
            #expect(put.header("ETag") == "\"d41d8cd98f00b204e9800998ecf8427e\"")
            let get = try await store.request("GET", "/empty/nothing")
            #expect(get.status == 200)
            #expect(get.body.isEmpty)
            #expect(get.header("Content-Length") == "0")
        }
    }

    @Test("Range: bytes=a-b, a-, -n give 206 with Content-Range; past the end gives 416 InvalidRange")
    func ranges() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("ranges")
            let alphabet = Array("abcdefghijklmnopqrstuvwxyz".utf8)
            _ = try await store.request("PUT", "/ranges/abc", body: alphabet)
            let cases: [(String, String, String)] = [
                ("bytes=0-4", "abcde", "bytes 0-4/26"),
                ("bytes=23-", "xyz", "bytes 23-25/26"),
                ("bytes=-3", "xyz", "bytes 23-25/26"),
                ("bytes=20-1000", "uvwxyz", "bytes 20-25/26"),
                ("bytes=-100", "abcdefghijklmnopqrstuvwxyz", "bytes 0-25/26"),
            ]
            for (range, expected, contentRange) in cases {
                let response = try await store.request("GET", "/ranges/abc", headers: [("Range", range)])
                #expect(response.status == 206, "\(range)")
                #expect(response.text == expected, "\(range)")
                #expect(response.header("Content-Range") == contentRange, "\(range)")
                #expect(response.header("Content-Length") == String(expected.utf8.count), "\(range)")
            }
            let beyond = try await store.request("GET", "/ranges/abc", headers: [("Range", "bytes=26-30")])
            #expect(beyond.status == 416)
            #expect(beyond.errorCode == "InvalidRange")
            #expect(beyond.header("Content-Range") == "bytes */26")
            // Several ranges are not supported by S3 either: the whole object comes back.
            let multiple = try await store.request("GET", "/ranges/abc", headers: [("Range", "bytes=0-1,3-4")])
            #expect(multiple.status == 200)
            #expect(multiple.body == alphabet)
        }
    }

    @Test("CopyObject copies bytes and metadata, or replaces metadata with REPLACE")
    func copyObject() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("source")
            try await store.createBucket("target")
            let body = Array("copy me".utf8)
            _ = try await store.request(
                "PUT",
                "/source/dir/a%20b.txt",
                headers: [("Content-Type", "text/plain"), ("x-amz-meta-color", "blue")],
                body: body
            )
            let copy = try await store.request(
                "PUT",
                "/target/copied",
                headers: [("x-amz-copy-source", "/source/dir/a%20b.txt")]
            )
            #expect(copy.status == 200)
            #expect(XMLText.first("ETag", in: copy.text) == "\"\(TestMD5.hex(body))\"")
            let copied = try await store.request("GET", "/target/copied")
            #expect(copied.body == body)
            #expect(copied.header("x-amz-meta-color") == "blue")
            #expect(copied.header("Content-Type") == "text/plain")

            let replaced = try await store.request(
                "PUT",
                "/target/replaced",
                headers: [
                    ("x-amz-copy-source", "source/dir/a%20b.txt"), ("x-amz-metadata-directive", "REPLACE"),
                    ("Content-Type", "application/json"),
                ]
            )
            #expect(replaced.status == 200)
            let replacedGet = try await store.request("GET", "/target/replaced")
            #expect(replacedGet.header("x-amz-meta-color") == nil)
            #expect(replacedGet.header("Content-Type") == "application/json")

            let missing = try await store.request("PUT", "/target/x", headers: [("x-amz-copy-source", "/source/nope")])
            #expect(missing.errorCode == "NoSuchKey")
        }
    }

    @Test("a GET to a client that stops reading reads only a bounded amount ahead from disk")
    func getBackpressure() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("slow")
            let size = 64 << 20
            let put = try await TestHTTPClient.withConnection(port: store.port) { connection in
                try connection.sendHead(method: "PUT", target: "/slow/big", headers: [], contentLength: size)
                let chunk = [UInt8](repeating: 0x5A, count: 1 << 20)
                for _ in 0..<(size >> 20) { try connection.send(chunk) }
                return try connection.readResponse().status
            }
            #expect(put == 200)

            let server = store.server
            let before = server.statistics.bytesReadForResponses.load(ordering: .relaxed)
            let readWhileStalled = try await TestHTTPClient.pool.runIfActive {
                let connection = try TestConnection(port: store.port, receiveBufferSize: 64 << 10)
                try connection.sendHead(method: "GET", target: "/slow/big", headers: [], contentLength: nil)
                let head = try connection.readHead()
                guard head.status == 200 else { throw TestClientError("GET answered \(head.status)") }
                usleep(1_000_000)
                let stalled = server.statistics.bytesReadForResponses.load(ordering: .relaxed) - before
                // Now read everything: the response resumes and completes.
                try connection.discard(size)
                return stalled
            }
            // Socket buffers on both sides hold a few MiB at most; without backpressure all 64 MiB would
            // have been read from disk by now.
            #expect(readWhileStalled < 16 << 20, "read \(readWhileStalled) bytes ahead of the client")
            #expect(server.statistics.bytesReadForResponses.load(ordering: .relaxed) - before == size)
        }
    }

    @Test("UploadPartCopy copies a source object's byte range into a part")
    func uploadPartCopy() async throws {
        try await DevStoreHarness.withStore(minimumPartSize: 1) { store in
            try await store.createBucket("parts")
            let source = Array("0123456789".utf8)
            _ = try await store.request("PUT", "/parts/source", body: source)
            let create = try await store.request("POST", "/parts/assembled?uploads")
            let uploadID = try #require(XMLText.first("UploadId", in: create.text))
            let copyFirst = try await store.request(
                "PUT",
                "/parts/assembled?partNumber=1&uploadId=\(uploadID)",
                headers: [("x-amz-copy-source", "parts/source"), ("x-amz-copy-source-range", "bytes=6-9")]
            )
            #expect(copyFirst.status == 200)
            let etag1 = try #require(XMLText.first("ETag", in: copyFirst.text))
            #expect(etag1 == "\"\(TestMD5.hex(Array("6789".utf8)))\"")
            let copyWhole = try await store.request(
                "PUT",
                "/parts/assembled?partNumber=2&uploadId=\(uploadID)",
                headers: [("x-amz-copy-source", "/parts/source")]
            )
            let etag2 = try #require(XMLText.first("ETag", in: copyWhole.text))
            let outside = try await store.request(
                "PUT",
                "/parts/assembled?partNumber=3&uploadId=\(uploadID)",
                headers: [("x-amz-copy-source", "/parts/source"), ("x-amz-copy-source-range", "bytes=5-10")]
            )
            #expect(outside.errorCode == "InvalidArgument")
            let xml =
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\(etag1)</ETag></Part>"
                + "<Part><PartNumber>2</PartNumber><ETag>\(etag2)</ETag></Part></CompleteMultipartUpload>"
            #expect(
                try await store.request("POST", "/parts/assembled?uploadId=\(uploadID)", body: Array(xml.utf8)).status
                    == 200
            )
            #expect(try await store.request("GET", "/parts/assembled").text == "67890123456789")
        }
    }

    @Test("subresources the store lacks (acl, tagging, …) are NotImplemented, never misread as a GET")
    func unsupportedSubresources() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("subs")
            _ = try await store.request("PUT", "/subs/k", body: [1])
            for target in ["/subs?acl", "/subs/k?tagging", "/subs?versions", "/subs?policy"] {
                let response = try await store.request("GET", target)
                #expect(response.status == 501, "\(target)")
                #expect(response.errorCode == "NotImplemented", "\(target)")
            }
        }
    }

    // MARK: - Listing

    @Test("ListObjectsV2 with prefix, delimiter, max-keys and continuation tokens; v1 with marker")
    func listing() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("list")
            let keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"]
            for key in keys { _ = try await store.request("PUT", "/list/\(key)", body: Array(key.utf8)) }

            let all = try await store.request("GET", "/list?list-type=2")
            #expect(XMLText.all("Key", in: all.text) == keys)
            #expect(XMLText.first("KeyCount", in: all.text) == "7")
            #expect(XMLText.first("IsTruncated", in: all.text) == "false")
            #expect(XMLText.first("Size", in: all.text) == "3")

            let rolled = try await store.request("GET", "/list?list-type=2&delimiter=%2F")
            #expect(XMLText.all("Key", in: rolled.text) == ["b", "d"])
            #expect(XMLText.all("Prefix", in: rolled.text).filter { !$0.isEmpty } == ["a/", "c/"])
            #expect(XMLText.first("KeyCount", in: rolled.text) == "4")

            let underA = try await store.request("GET", "/list?list-type=2&prefix=a%2F&delimiter=%2F")
            #expect(XMLText.all("Key", in: underA.text) == ["a/1", "a/2"])
            #expect(XMLText.all("Prefix", in: underA.text) == ["a/", "a/b/"])

            // Pages of two with the delimiter: common prefixes count against max-keys and are never repeated.
            var seenKeys: [String] = []
            var seenPrefixes: [String] = []
            var token: String? = nil
            var pages = 0
            repeat {
                var target = "/list?list-type=2&delimiter=/&max-keys=2"
                if let token { target += "&continuation-token=\(token)" }
                let page = try await store.request("GET", target)
                #expect(page.status == 200)
                seenKeys += XMLText.all("Key", in: page.text)
                seenPrefixes += XMLText.all("Prefix", in: page.text).filter { !$0.isEmpty }
                token = XMLText.first("NextContinuationToken", in: page.text)
                #expect((XMLText.first("IsTruncated", in: page.text) == "true") == (token != nil))
                pages += 1
            } while token != nil && pages < 10
            #expect(seenKeys == ["b", "d"])
            #expect(seenPrefixes == ["a/", "c/"])
            #expect(pages == 2)

            let afterB = try await store.request("GET", "/list?list-type=2&start-after=b")
            #expect(XMLText.all("Key", in: afterB.text) == ["c/1", "c/2", "d"])

            let v1 = try await store.request("GET", "/list?max-keys=3")
            #expect(XMLText.all("Key", in: v1.text) == ["a/1", "a/2", "a/b/3"])
            #expect(XMLText.first("NextMarker", in: v1.text) == "a/b/3")
            let v1Next = try await store.request("GET", "/list?marker=a%2Fb%2F3")
            #expect(XMLText.all("Key", in: v1Next.text) == ["b", "c/1", "c/2", "d"])

            let bad = try await store.request("GET", "/list?list-type=2&max-keys=minus")
            #expect(bad.errorCode == "InvalidArgument")
        }
    }

    @Test("listings XML-escape keys, sort by UTF-8 bytes, and URL-encode with encoding-type=url")
    func listingEscapesAndEncodes() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("odd")
            let keys = ["a&b<c>\"d'", "z", "é", "\u{1F600}", "space key", "plus+key", "ctrl\u{01}char"]
            for key in keys {
                #expect(try await store.request("PUT", "/odd/\(encodePath(key))", body: [1]).status == 200)
            }
            let sortedByBytes = keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let plain = try await store.request("GET", "/odd?list-type=2")
            #expect(plain.text.contains("<Key>a&amp;b&lt;c&gt;&quot;d&apos;</Key>"))
            #expect(XMLText.all("Key", in: plain.text) == sortedByBytes)

            let encoded = try await store.request("GET", "/odd?list-type=2&encoding-type=url")
            #expect(XMLText.first("EncodingType", in: encoded.text) == "url")
            let decoded = XMLText.all("Key", in: encoded.text).map { $0.removingPercentEncoding ?? "<bad>" }
            #expect(decoded == sortedByBytes)
            #expect(XMLText.all("Key", in: encoded.text).contains("space%20key"))
        }
    }

    // MARK: - Keys that try to escape

    @Test("crafted keys stay inside the data directory and round-trip exactly")
    func craftedKeys() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("safe")
            let keys = [
                "../../etc/passwd", "/abs", "//double", "a/../../b", "./.", "..", ".", "a/./b", "nul\u{0}byte",
                String(repeating: "k", count: 1024), String(repeating: "é", count: 512), "日本語/キー", "ends/with/",
                ".devstore", "bucket.json", "upload.json", "objects", "x.json", "../buckets/other", "%2e%2e%2f",
                "back\\slash", "tab\tand\nnewline", "trailing ",
            ]
            for (index, key) in keys.enumerated() {
                let body = Array("content \(index)".utf8)
                let put = try await store.request("PUT", "/safe/\(encodePath(key))", body: body)
                #expect(put.status == 200, "\(key.debugDescription)")
                let get = try await store.request("GET", "/safe/\(encodePath(key))")
                #expect(get.body == body, "\(key.debugDescription)")
            }
            let listed = try await store.request("GET", "/safe?list-type=2&encoding-type=url")
            let listedKeys = XMLText.all("Key", in: listed.text).map { $0.removingPercentEncoding ?? "<bad>" }
            #expect(listedKeys == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })

            // Nothing was written beside the data directory, and inside it only the store's own layout.
            #expect(try FileManager.default.contentsOfDirectory(atPath: store.sandbox) == ["data"])
            for file in DevStoreHarness.files(under: store.dataDirectory) {
                let parts = file.split(separator: "/")
                let isObjectFile =
                    parts.count == 5 && parts[0] == "buckets" && parts[1] == "safe" && parts[2] == "objects"
                #expect(isObjectFile || file == "buckets/safe/bucket.json", "unexpected file \(file)")
            }

            let tooLong = try await store.request("PUT", "/safe/\(String(repeating: "k", count: 1025))", body: [1])
            #expect(tooLong.status == 400)
            #expect(tooLong.errorCode == "KeyTooLongError")
            let badEscape = try await store.request("PUT", "/safe/bad%zzescape", body: [1])
            #expect(badEscape.errorCode == "InvalidArgument")
        }
    }

    // MARK: - Uploads cut off

    @Test("an upload whose connection closes before the last byte leaves no object and no temporary file")
    func abandonedUpload() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("cut")
            _ = try await store.request("PUT", "/cut/existing", body: Array("old".utf8))
            let temporaryDirectory = store.dataDirectory + "/.devstore/tmp"
            for key in ["new-object", "existing"] {
                let sawTemporaryFile = try await TestHTTPClient.withConnection(port: store.port) { connection in
                    try connection.sendHead(method: "PUT", target: "/cut/\(key)", headers: [], contentLength: 1_000_000)
                    try connection.send([UInt8](repeating: 7, count: 300_000))
                    // Hold the connection until the upload is visibly in flight, so the cut happens mid-write.
                    for _ in 0..<200 {
                        if !DevStoreHarness.files(under: temporaryDirectory).isEmpty { return true }
                        usleep(10_000)
                    }
                    return false
                }  // the connection closes here, 700 000 bytes short
                #expect(sawTemporaryFile)
            }
            try await waitUntil { store.temporaryFiles.isEmpty }
            #expect(store.temporaryFiles.isEmpty)
            #expect(try await store.request("GET", "/cut/new-object").errorCode == "NoSuchKey")
            #expect(try await store.request("GET", "/cut/existing").text == "old")
            let listed = try await store.request("GET", "/cut?list-type=2")
            #expect(XMLText.all("Key", in: listed.text) == ["existing"])
        }
    }

    @Test("Expect: 100-continue gets 100 Continue before the body, and a refusal without one")
    func expectContinue() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("expect")
            let status = try await TestHTTPClient.withConnection(port: store.port) { connection in
                try connection.sendHead(
                    method: "PUT",
                    target: "/expect/k",
                    headers: [("Expect", "100-continue")],
                    contentLength: 5
                )
                let interim = try connection.readHead()
                try connection.send(Array("hello".utf8))
                let final = try connection.readResponse()
                return [interim.status, final.status]
            }
            #expect(status == [100, 200])
            #expect(try await store.request("GET", "/expect/k").text == "hello")

            let refused = try await TestHTTPClient.withConnection(port: store.port) { connection in
                try connection.sendHead(
                    method: "PUT",
                    target: "/missing-bucket/k",
                    headers: [("Expect", "100-continue")],
                    contentLength: 5
                )
                let response = try connection.readResponse()
                return (response.status, response.errorCode, try connection.isClosedByPeer())
            }
            #expect(refused.0 == 404)
            #expect(refused.1 == "NoSuchBucket")
            #expect(refused.2)
        }
    }

    @Test("an aws-chunked body is refused, never stored with its framing: the sidecar decodes those")
    func awsChunkedBody() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("chunked")
            let framed =
                "5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n"
            let put = try await store.request(
                "PUT",
                "/chunked/k",
                headers: [
                    ("Content-Encoding", "aws-chunked"), ("x-amz-decoded-content-length", "11"),
                    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ],
                body: Array(framed.utf8)
            )
            #expect(put.status == 501)
            #expect(put.text.contains("<Code>NotImplemented</Code>"))
            let get = try await store.request("GET", "/chunked/k")
            #expect(get.status == 404)
        }
    }

    // MARK: - Errors

    @Test("errors are S3 XML documents with codes, statuses and a request id")
    func errors() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("errs")
            let cases: [(String, String, Int, String)] = [
                ("GET", "/nobucket/key", 404, "NoSuchBucket"),
                ("PUT", "/nobucket/key", 404, "NoSuchBucket"),
                ("GET", "/errs/nokey", 404, "NoSuchKey"),
                ("POST", "/errs/key", 405, "MethodNotAllowed"),
                ("DELETE", "/", 405, "MethodNotAllowed"),
                ("GET", "/errs/key?uploadId=0123456789abcdef0123456789abcdef", 404, "NoSuchUpload"),
                ("GET", "/errs/key?uploadId=../../x", 404, "NoSuchUpload"),
                ("PUT", "/errs/key?uploadId=0123456789abcdef0123456789abcdef&partNumber=0", 400, "InvalidArgument"),
                ("GET", "/errs?list-type=2&continuation-token=zz", 400, "InvalidArgument"),
            ]
            for (method, target, status, code) in cases {
                let response = try await store.request(method, target)
                #expect(response.status == status, "\(method) \(target)")
                #expect(response.errorCode == code, "\(method) \(target)")
                #expect(response.header("x-amz-request-id") != nil)
                #expect(response.header("Content-Type") == "application/xml")
                #expect(XMLText.first("RequestId", in: response.text) == response.header("x-amz-request-id"))
            }
        }
    }

    // MARK: - Multipart

    @Test("multipart upload of 5 MiB + 5 MiB + 1 byte: ETag is md5-of-md5s-3 and the bytes reassemble")
    func multipartUpload() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("multi")
            let key = "big/object.bin"
            let create = try await store.request(
                "POST",
                "/multi/\(key)?uploads",
                headers: [("Content-Type", "application/x-test"), ("x-amz-meta-origin", "multipart")]
            )
            #expect(create.status == 200)
            let uploadID = try #require(XMLText.first("UploadId", in: create.text))

            let parts: [[UInt8]] = [
                (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) },
                (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) },
                [42],
            ]
            let digests = parts.map(TestMD5.digest)
            let etags = digests.map { "\"\(TestMD5.hexString($0))\"" }
            // Upload out of order, as parallel clients do.
            for index in [2, 0, 1] {
                let response = try await store.request(
                    "PUT",
                    "/multi/\(key)?partNumber=\(index + 1)&uploadId=\(uploadID)",
                    body: parts[index]
                )
                #expect(response.status == 200)
                #expect(response.header("ETag") == etags[index])
            }

            let listParts = try await store.request("GET", "/multi/\(key)?uploadId=\(uploadID)")
            #expect(XMLText.all("PartNumber", in: listParts.text) == ["1", "2", "3"])
            #expect(XMLText.all("Size", in: listParts.text) == ["\(5 << 20)", "\(5 << 20)", "1"])
            let uploads = try await store.request("GET", "/multi?uploads")
            #expect(XMLText.all("UploadId", in: uploads.text) == [uploadID])

            func completion(_ entries: [(Int, String)]) -> [UInt8] {
                var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                for (number, etag) in entries {
                    xml +=
                        "<Part><ETag>\(etag.replacingOccurrences(of: "\"", with: "&quot;"))</ETag>"
                        + "<PartNumber>\(number)</PartNumber></Part>"
                }
                return Array((xml + "</CompleteMultipartUpload>").utf8)
            }
            let outOfOrder = try await store.request(
                "POST",
                "/multi/\(key)?uploadId=\(uploadID)",
                body: completion([(2, etags[1]), (1, etags[0])])
            )
            #expect(outOfOrder.errorCode == "InvalidPartOrder")
            let wrongETag = try await store.request(
                "POST",
                "/multi/\(key)?uploadId=\(uploadID)",
                body: completion([(1, etags[1]), (2, etags[1])])
            )
            #expect(wrongETag.errorCode == "InvalidPart")
            let unknownPart = try await store.request(
                "POST",
                "/multi/\(key)?uploadId=\(uploadID)",
                body: completion([(1, etags[0]), (4, etags[2])])
            )
            #expect(unknownPart.errorCode == "InvalidPart")
            let malformed = try await store.request(
                "POST",
                "/multi/\(key)?uploadId=\(uploadID)",
                body: Array("<Complete".utf8)
            )
            #expect(malformed.errorCode == "MalformedXML")

            let complete = try await store.request(
                "POST",
                "/multi/\(key)?uploadId=\(uploadID)",
                body: completion([(1, etags[0]), (2, etags[1]), (3, etags[2])])
            )
            #expect(complete.status == 200)
            let md5OfMD5s = TestMD5.hex(digests.flatMap { $0 }) + "-3"
            #expect(XMLText.first("ETag", in: complete.text) == "\"\(md5OfMD5s)\"")
            #expect(XMLText.first("Key", in: complete.text) == key)

            let head = try await store.request("HEAD", "/multi/\(key)")
            #expect(head.header("ETag") == "\"\(md5OfMD5s)\"")
            #expect(head.header("Content-Length") == String((10 << 20) + 1))
            #expect(head.header("Content-Type") == "application/x-test")
            #expect(head.header("x-amz-meta-origin") == "multipart")
            let get = try await store.request("GET", "/multi/\(key)")
            #expect(get.body.count == (10 << 20) + 1)
            #expect(get.body == parts.flatMap { $0 })
            let boundary = try await store.request(
                "GET",
                "/multi/\(key)",
                headers: [("Range", "bytes=\((10 << 20) - 2)-")]
            )
            #expect(boundary.body == Array(parts[1].suffix(2)) + [42])

            // The upload is finished: its bookkeeping is gone.
            #expect(try await store.request("GET", "/multi/\(key)?uploadId=\(uploadID)").errorCode == "NoSuchUpload")
            #expect(DevStoreHarness.files(under: store.dataDirectory + "/.devstore/uploads").isEmpty)
        }
    }

    @Test("multipart: parts under 5 MiB but the last give EntityTooSmall; abort, and bucket deletion, remove uploads")
    func multipartTooSmallAndAbort() async throws {
        try await DevStoreHarness.withStore { store in
            try await store.createBucket("multi")
            let create = try await store.request("POST", "/multi/small?uploads")
            let uploadID = try #require(XMLText.first("UploadId", in: create.text))
            var etags: [String] = []
            for number in 1...2 {
                let part = try await store.request(
                    "PUT",
                    "/multi/small?partNumber=\(number)&uploadId=\(uploadID)",
                    body: [UInt8(number)]
                )
                etags.append(try #require(part.header("ETag")))
            }
            let xml =
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\(etags[0])</ETag></Part>"
                + "<Part><PartNumber>2</PartNumber><ETag>\(etags[1])</ETag></Part></CompleteMultipartUpload>"
            let tooSmall = try await store.request("POST", "/multi/small?uploadId=\(uploadID)", body: Array(xml.utf8))
            #expect(tooSmall.status == 400)
            #expect(tooSmall.errorCode == "EntityTooSmall")

            // The upload belongs to its key: another key cannot use it.
            let otherKey = try await store.request("PUT", "/multi/other?partNumber=1&uploadId=\(uploadID)", body: [1])
            #expect(otherKey.errorCode == "NoSuchUpload")

            #expect(try await store.request("DELETE", "/multi/small?uploadId=\(uploadID)").status == 204)
            #expect(try await store.request("DELETE", "/multi/small?uploadId=\(uploadID)").errorCode == "NoSuchUpload")
            #expect(try await store.request("GET", "/multi/small").errorCode == "NoSuchKey")
            #expect(DevStoreHarness.files(under: store.dataDirectory + "/.devstore").isEmpty)

            // Deleting a bucket takes its unfinished uploads with it.
            let orphan = try await store.request("POST", "/multi/orphan?uploads")
            let orphanID = try #require(XMLText.first("UploadId", in: orphan.text))
            _ = try await store.request("PUT", "/multi/orphan?partNumber=1&uploadId=\(orphanID)", body: [1, 2, 3])
            #expect(try await store.request("DELETE", "/multi").status == 204)
            #expect(DevStoreHarness.files(under: store.dataDirectory + "/.devstore").isEmpty)
            try await store.createBucket("multi")
            #expect(try await store.request("GET", "/multi/orphan?uploadId=\(orphanID)").errorCode == "NoSuchUpload")
        }
    }
}

/// Polls `condition` for up to five seconds: the server notices a closed connection asynchronously.
func waitUntil(_ condition: () throws -> Bool) async throws {
    for _ in 0..<100 {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
}
