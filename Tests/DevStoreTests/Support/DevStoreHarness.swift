import DevStore
import Foundation
import Logging
import NIOPosix

/// A DevStore on loopback port 0 over a fresh temporary directory, removed afterwards.
struct DevStoreHarness {
    let server: DevStoreServer
    /// The parent of the data directory: nothing may ever be written here except the data directory.
    let sandbox: String
    let dataDirectory: String
    var port: Int { server.port }

    /// Runs `body` against a fresh store.
    static func withStore<T>(
        minimumPartSize: Int64? = nil,
        _ body: (DevStoreHarness) async throws -> T
    ) async throws -> T {
        let sandbox = FileManager.default.temporaryDirectory.path + "/devstore-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: sandbox, withIntermediateDirectories: true)
        let dataDirectory = sandbox + "/data"
        var configuration = DevStoreConfiguration(dataDirectory: dataDirectory)
        if let minimumPartSize { configuration.minimumPartSize = minimumPartSize }
        var logger = Logger(label: "devstore-test")
        logger.logLevel = .warning
        let server = try await DevStoreServer.start(
            configuration: configuration,
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        )
        let harness = DevStoreHarness(server: server, sandbox: sandbox, dataDirectory: dataDirectory)
        do {
            let result = try await body(harness)
            try await server.shutdown()
            try? FileManager.default.removeItem(atPath: sandbox)
            return result
        } catch {
            try? await server.shutdown()
            try? FileManager.default.removeItem(atPath: sandbox)
            throw error
        }
    }

    /// Sends one request.
    func request(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: [UInt8] = []
    ) async throws -> TestResponse {
        try await TestHTTPClient.request(port: port, method, target, headers: headers, body: body)
    }

    /// Creates a bucket, expecting success.
    func createBucket(_ name: String) async throws {
        let response = try await request("PUT", "/\(name)")
        guard response.status == 200 else {
            throw TestClientError("create bucket \(name): \(response.status) \(response.text)")
        }
    }

    /// Every regular file under `path`, relative to it.
    static func files(under path: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
        var files: [String] = []
        while let item = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + item, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                files.append(item)
            }
        }
        return files.sorted()
    }

    /// The temporary files of uploads in flight.
    var temporaryFiles: [String] { Self.files(under: dataDirectory + "/.devstore/tmp") }
}

/// Percent-encodes a key for a request path the way the AWS SDKs do (everything but unreserved and `/`).
func encodePath(_ key: String) -> String {
    var out = ""
    for byte in key.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
            out.unicodeScalars.append(Unicode.Scalar(byte))
        default:
            out += String(format: "%%%02X", byte)
        }
    }
    return out
}
