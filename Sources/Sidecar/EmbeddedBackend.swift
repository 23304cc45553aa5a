import DevStore
import Foundation
import Logging
import NIOPosix
import Verifier

/// The quick-start setup of `s3-sidecar serve` without `--upstream`: the embedded development store
/// (`DevStore`) on a loopback port behind the sidecar in `trusted` mode, and an access key generated
/// once and kept in the data directory, so a restart keeps working with the same key.
enum EmbeddedBackend {
    /// The key file inside the data directory, in the `--credentials` format.
    static let credentialsFileName = "credentials.json"

    /// Starts the store over `dataDirectory` on a free loopback port.
    static func start(dataDirectory: String, region: String, logger: Logger) async throws -> DevStoreServer {
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        return try await DevStoreServer.start(
            configuration: DevStoreConfiguration(dataDirectory: dataDirectory, host: "127.0.0.1", port: 0, region: region),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger
        )
    }

    /// The keys in the data directory's key file, created with one fresh key if there is none.
    static func credentials(dataDirectory: String) throws -> [Credential] {
        let path = (dataDirectory as NSString).appendingPathComponent(credentialsFileName)
        if FileManager.default.fileExists(atPath: path) {
            let loaded = Result { () throws(CredentialsFile.Error) in try CredentialsFile.load(path: path) }
            switch loaded {
            case .success(let keys): return keys.credentials
            case .failure(let error): throw ConfigurationError(description: error.description)
            }
        }
        let credential = Credential(
            accessKeyId: "AKIA" + randomString(length: 16, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
            secretAccessKey: randomString(
                length: 40,
                alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
            )
        )
        let file: [String: [[String: String]]] = [
            "keys": [["accessKeyId": credential.accessKeyId, "secretAccessKey": credential.secretAccessKey]]
        ]
        let data = try JSONSerialization.data(withJSONObject: file, options: [.prettyPrinted, .sortedKeys])
        // Owner-only from the start: the file holds a secret.
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError(description: "cannot write the key file \(path)")
        }
        return [credential]
    }

    /// The lines a newcomer pastes into a shell to use any AWS tool through the sidecar.
    static func banner(endpoint: String, region: String, credential: Credential, dataDirectory: String) -> String {
        """
        s3-sidecar: S3 endpoint \(endpoint), backed by the embedded development store in \(dataDirectory)
        (a development and test backend, not a production store). Paste these lines into a shell:

        export AWS_ACCESS_KEY_ID=\(credential.accessKeyId)
        export AWS_SECRET_ACCESS_KEY=\(credential.secretAccessKey)
        export AWS_ENDPOINT_URL=\(endpoint)
        export AWS_DEFAULT_REGION=\(region)

        then, for example:
          aws s3 mb s3://demo && aws s3 cp ./README.md s3://demo/README.md
          curl -s "$(aws s3 presign s3://demo/README.md --expires-in 300)"

        """
    }

    /// Uniformly random characters from the system's cryptographic generator.
    private static func randomString(length: Int, alphabet: String) -> String {
        let characters = Array(alphabet)
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in characters.randomElement(using: &generator)! })
    }
}
