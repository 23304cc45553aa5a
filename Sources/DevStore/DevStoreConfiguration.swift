/// How a ``DevStoreServer`` listens and where it keeps its data.
///
/// The defaults bind an ephemeral port on the IPv4 loopback address: the development store does no
/// authentication, so it must only ever be reachable through the sidecar in front of it.
public struct DevStoreConfiguration: Sendable {
    /// The directory that holds every bucket, object and in-progress upload. Created if missing.
    public var dataDirectory: String
    /// The address to bind. Keep it a loopback address: the store trusts every request.
    public var host: String
    /// The port to bind; `0` picks a free port (read it back from ``DevStoreServer/port``).
    public var port: Int
    /// The largest request body buffered in memory, for the few operations whose body is an XML
    /// document (complete multipart upload, multi-object delete, create bucket).
    public var maxXMLBodySize: Int
    /// The size of the chunks read from disk for a GET; one chunk is in flight per connection.
    public var readChunkSize: Int
    /// The smallest part, other than the last, that a multipart upload may be completed with.
    /// S3 requires 5 MiB; tests may lower it.
    public var minimumPartSize: Int64
    /// The region reported by `GetBucketLocation` and in the `x-amz-bucket-region` header.
    public var region: String

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - dataDirectory: The directory that holds the store's data; created if missing.
    ///   - host: The address to bind, `127.0.0.1` by default.
    ///   - port: The port to bind; `0` (the default) picks a free one.
    ///   - region: The region reported to clients, `us-east-1` by default.
    public init(
        dataDirectory: String,
        host: String = "127.0.0.1",
        port: Int = 0,
        region: String = "us-east-1"
    ) {
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.region = region
        self.maxXMLBodySize = 4 * 1024 * 1024
        self.readChunkSize = 256 * 1024
        self.minimumPartSize = 5 * 1024 * 1024
    }
}
