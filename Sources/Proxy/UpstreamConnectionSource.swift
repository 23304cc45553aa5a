import NIOCore

/// Where a proxy handler gets its upstream connections: the pool of its event loop, or a stand-in in tests.
///
/// Loop-bound: every call, and every callback, happens on the event loop of the handler and of the
/// connections it gets. Callbacks rather than futures, because connections are not `Sendable`.
protocol UpstreamConnectionSource: AnyObject {
    /// Calls back with a connection that is idle and ready, or with why there is none.
    func acquire(_ callback: @escaping (Result<UpstreamConnection, UpstreamError>) -> Void)
    /// Gives a connection back. `reusable` is `false` when the exchange did not end cleanly (aborted
    /// request, upstream `Connection: close`, error): the connection is then closed.
    func release(_ connection: UpstreamConnection, reusable: Bool)
}
