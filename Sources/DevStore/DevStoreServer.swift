import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// An embedded S3-compatible object store over a directory, for development and tests.
///
/// **This is a development and test backend, not a production store.** It authenticates nothing and
/// trusts every request, so it listens on loopback only and always runs behind the sidecar (in
/// `trusted` mode), which authenticates clients in front of it. Listing reads every object's metadata
/// file, durability goes no further than `rename(2)`, and there is no versioning, ACL or lifecycle.
///
/// What it does implement, path-style only (`/bucket/key`): buckets (create, delete, list, head,
/// location); objects (PUT streamed to a temporary file and renamed into place only once complete, GET
/// with a single `Range` and conditional headers, HEAD, DELETE, multi-object delete, CopyObject);
/// ListObjectsV2 and v1 with prefix, delimiter, pagination and `encoding-type=url`; multipart uploads
/// (including UploadPartCopy); S3's ETags; `Content-MD5` checks; `Content-Type`, `x-amz-meta-*` and a few
/// standard headers kept; `aws-chunked` bodies refused (the sidecar decodes them); S3 XML responses and errors. Object bodies
/// stream through in bounded chunks both ways. Other S3 subresources (`?acl`, `?tagging`, …) answer
/// `NotImplemented`.
///
/// Keys never become paths: objects are stored under the SHA-256 of their key, with the key itself in
/// a metadata file, so no key can escape the data directory or touch the store's bookkeeping. The store
/// uses only `buckets/` and `.devstore/` inside the data directory; other files may live beside them.
///
/// ```swift
/// let store = try await DevStoreServer.start(
///     configuration: DevStoreConfiguration(dataDirectory: "./data"),
///     eventLoopGroup: group,
///     logger: logger
/// )
/// // forward to http://127.0.0.1:\(store.port)
/// try await store.shutdown()
/// ```
public final class DevStoreServer: Sendable {
    /// The port bound, useful when the configuration asked for port 0.
    public let port: Int
    /// The address bound.
    public let localAddress: SocketAddress
    private let serverChannel: any Channel
    private let acceptTask: Task<Void, Never>
    /// Counters for tests.
    let statistics: DevStoreStatistics

    private init(
        port: Int,
        localAddress: SocketAddress,
        serverChannel: any Channel,
        acceptTask: Task<Void, Never>,
        statistics: DevStoreStatistics
    ) {
        self.port = port
        self.localAddress = localAddress
        self.serverChannel = serverChannel
        self.acceptTask = acceptTask
        self.statistics = statistics
    }

    /// Opens the data directory (creating it if needed), binds the listener and starts serving.
    ///
    /// - Parameters:
    ///   - configuration: Where the data lives and where to listen.
    ///   - eventLoopGroup: The event loops to serve on; the caller owns the group (the sidecar shares its own).
    ///   - logger: Where the store logs, one debug line per request.
    /// - Returns: The running server; call ``shutdown()`` to stop it.
    public static func start(
        configuration: DevStoreConfiguration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger
    ) async throws -> DevStoreServer {
        let threadPool = NIOThreadPool.singleton
        let dataDirectory = configuration.dataDirectory
        let store = try await threadPool.runIfActive { try FileStore(dataDirectory: dataDirectory) }
        let statistics = DevStoreStatistics()
        let handler = DevStoreRequestHandler(
            store: store,
            fileIO: NonBlockingFileIO(threadPool: threadPool),
            threadPool: threadPool,
            configuration: configuration,
            logger: logger,
            statistics: statistics
        )

        let serverChannel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        let address = serverChannel.channel.localAddress!
        logger.info(
            "development store listening",
            metadata: ["devstore.address": "\(address)", "devstore.data_directory": "\(store.root)"]
        )

        let acceptTask = Task {
            await withDiscardingTaskGroup { group in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            group.addTask { await handler.serve(connection) }
                        }
                    }
                } catch {
                    logger.debug("development store listener ended", metadata: ["error": "\(error)"])
                }
                // Shutting down: stop every connection still open.
                group.cancelAll()
            }
        }
        return DevStoreServer(
            port: address.port ?? configuration.port,
            localAddress: address,
            serverChannel: serverChannel.channel,
            acceptTask: acceptTask,
            statistics: statistics
        )
    }

    /// Stops listening, closes open connections (abandoning uploads in flight, which leave nothing
    /// behind) and waits until every connection has ended.
    public func shutdown() async throws {
        try? await serverChannel.close()
        acceptTask.cancel()
        await acceptTask.value
    }
}
