import NIOCore

/// Everything the proxy needs to run, with defaults for every value that has a sensible one.
///
/// Parsing flags, files and the environment into this value is the `Sidecar`'s business; the library only
/// takes the finished struct.
public struct ProxyConfiguration: Sendable {
    /// Where to listen for clients.
    public struct Listen: Sendable {
        /// The address to bind, e.g. `127.0.0.1` or `::`.
        public var host: String
        /// The port; `0` asks the system for a free one (read it back from `ProxyServer.localAddress`).
        public var port: Int
        /// The listen backlog.
        public var backlog: Int32
        /// TLS on the listener (certificate and key, reloadable); `nil` for plain HTTP.
        public var tls: ListenerTLS?

        public init(host: String = "127.0.0.1", port: Int = 8080, backlog: Int32 = 256, tls: ListenerTLS? = nil) {
            self.host = host
            self.port = port
            self.backlog = backlog
            self.tls = tls
        }
    }

    /// Reverse proxies whose `X-Forwarded-Host`/`-Prefix` give the host and path clients signed; none by default.
    public var trustedProxies: TrustedProxies = .none

    /// Timeouts, in NIO's `TimeAmount`.
    public struct Timeouts: Sendable {
        /// A client connection with no request in flight that sends nothing for this long is closed; a request
        /// body that stalls this long (while the proxy is reading it) gets `400 RequestTimeout`.
        public var clientIdle: TimeAmount
        /// How long a TCP connect to the upstream may take.
        public var upstreamConnect: TimeAmount
        /// An upstream that sends nothing for this long, while it owes a response and is not busy taking a
        /// request body, is given up (the client gets `503 ServiceUnavailable`, or a cut connection if the
        /// response had begun). Idle pooled connections are closed after it too.
        public var upstreamRead: TimeAmount
        /// How long a pooled upstream connection may sit unused before it is no longer reused.
        public var upstreamPoolIdle: TimeAmount
        /// How long a request may wait for a pooled connection when the pool is at its limit.
        public var upstreamPoolWait: TimeAmount
        /// After an error reply that ends the connection, how long to keep reading (and dropping) what the
        /// client still sends, so that it reads the reply instead of a connection reset.
        public var lingeringClose: TimeAmount
        /// A client that has begun a request must finish its head within this; `nil` for no limit (the idle
        /// timeout still applies between reads).
        public var clientHead: TimeAmount?

        public init(
            clientIdle: TimeAmount = .seconds(60),
            upstreamConnect: TimeAmount = .seconds(5),
            upstreamRead: TimeAmount = .seconds(60),
            upstreamPoolIdle: TimeAmount = .seconds(15),
            upstreamPoolWait: TimeAmount = .seconds(5),
            lingeringClose: TimeAmount = .seconds(2),
            clientHead: TimeAmount? = nil
        ) {
            self.clientIdle = clientIdle
            self.upstreamConnect = upstreamConnect
            self.upstreamRead = upstreamRead
            self.upstreamPoolIdle = upstreamPoolIdle
            self.upstreamPoolWait = upstreamPoolWait
            self.lingeringClose = lingeringClose
            self.clientHead = clientHead
        }
    }

    /// Bounds on what a client may send.
    public struct Limits: Sendable {
        /// The largest single header field (name and value), and also the request line.
        public var maxHeaderFieldSize: Int
        /// The largest header section (all names and values plus the request target).
        public var maxHeaderSectionSize: Int
        /// The most header fields one request may carry.
        public var maxHeaderCount: Int
        /// Open client connections at most; more wait in the listen backlog. `nil` for no limit.
        public var maxConnections: Int?
        /// The largest object a `PUT` may upload, in bytes; `nil` for no limit.
        public var maxObjectSize: Int64?

        public init(
            maxHeaderFieldSize: Int = 16 * 1024,
            maxHeaderSectionSize: Int = 64 * 1024,
            maxHeaderCount: Int = 200,
            maxConnections: Int? = nil,
            maxObjectSize: Int64? = nil
        ) {
            self.maxHeaderFieldSize = maxHeaderFieldSize
            self.maxHeaderSectionSize = maxHeaderSectionSize
            self.maxHeaderCount = maxHeaderCount
            self.maxConnections = maxConnections
            self.maxObjectSize = maxObjectSize
        }
    }

    /// The upstream connection pool, one per event loop.
    public struct Pool: Sendable {
        /// Open connections (busy and idle) per event loop.
        public var maxConnectionsPerEventLoop: Int
        /// Requests that may wait for a connection per event loop; beyond that they get `503 SlowDown`.
        public var maxWaitersPerEventLoop: Int

        public init(maxConnectionsPerEventLoop: Int = 128, maxWaitersPerEventLoop: Int = 1024) {
            self.maxConnectionsPerEventLoop = maxConnectionsPerEventLoop
            self.maxWaitersPerEventLoop = maxWaitersPerEventLoop
        }
    }

    /// Socket tuning. Read size decides large-body throughput, so the defaults read up to 1 MiB at once.
    public struct Tuning: Sendable {
        /// `AdaptiveRecvByteBufferAllocator` bounds: reads start at `initial` and adapt between the two.
        public var receiveBufferMinimum: Int
        public var receiveBufferInitial: Int
        public var receiveBufferMaximum: Int
        /// How many reads one readiness event may do before yielding the loop.
        public var maxMessagesPerRead: UInt
        /// Write-buffer water marks: a channel above `high` is unwritable, and the other side stops reading.
        public var writeBufferLowWaterMark: Int
        public var writeBufferHighWaterMark: Int
        /// Event loops (threads) of the group the server makes when none is given: one per core by default.
        /// Each loop has its own upstream pool.
        public var eventLoopThreads: Int

        public init(
            receiveBufferMinimum: Int = 64 * 1024,
            receiveBufferInitial: Int = 256 * 1024,
            receiveBufferMaximum: Int = 1024 * 1024,
            maxMessagesPerRead: UInt = 4,
            writeBufferLowWaterMark: Int = 512 * 1024,
            writeBufferHighWaterMark: Int = 2 * 1024 * 1024,
            eventLoopThreads: Int = System.coreCount
        ) {
            self.receiveBufferMinimum = receiveBufferMinimum
            self.receiveBufferInitial = receiveBufferInitial
            self.receiveBufferMaximum = receiveBufferMaximum
            self.maxMessagesPerRead = maxMessagesPerRead
            self.writeBufferLowWaterMark = writeBufferLowWaterMark
            self.writeBufferHighWaterMark = writeBufferHighWaterMark
            self.eventLoopThreads = eventLoopThreads
        }

        var receiveAllocator: AdaptiveRecvByteBufferAllocator {
            AdaptiveRecvByteBufferAllocator(
                minimum: receiveBufferMinimum,
                initial: receiveBufferInitial,
                maximum: receiveBufferMaximum
            )
        }

        var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark {
            .init(low: writeBufferLowWaterMark, high: writeBufferHighWaterMark)
        }
    }

    /// Where clients connect.
    public var listen: Listen
    /// The backend every verified request goes to.
    public var upstream: UpstreamEndpoint
    /// How the upstream request is authenticated.
    public var mode: UpstreamMode
    /// How a verified trailing checksum is passed on when the mode decodes aws-chunked bodies; `nil` is
    /// the mode's default (`TrailingChecksumForwarding.default(for:)`).
    public var trailingChecksum: TrailingChecksumForwarding?
    /// For an `https` upstream: a PEM bundle of CA certificates to trust instead of the system's roots.
    public var upstreamCAFile: String?
    public var timeouts: Timeouts
    public var limits: Limits
    public var pool: Pool
    public var tuning: Tuning
    /// Cross-origin support for browsers; `nil`: no CORS headers, preflights go to S3 authentication.
    public var cors: CORSConfiguration? = nil

    public init(
        listen: Listen = .init(),
        upstream: UpstreamEndpoint,
        mode: UpstreamMode = .passthrough,
        trailingChecksum: TrailingChecksumForwarding? = nil,
        timeouts: Timeouts = .init(),
        limits: Limits = .init(),
        pool: Pool = .init(),
        tuning: Tuning = .init(),
        upstreamCAFile: String? = nil
    ) {
        self.upstreamCAFile = upstreamCAFile
        self.listen = listen
        self.upstream = upstream
        self.mode = mode
        self.trailingChecksum = trailingChecksum
        self.timeouts = timeouts
        self.limits = limits
        self.pool = pool
        self.tuning = tuning
    }
}
