import Synchronization

/// Counters the tests read to check behaviour that is invisible on the wire, such as how far a GET
/// has read ahead of a slow client.
final class DevStoreStatistics: Sendable {
    /// Object bytes read from disk to answer GETs, across all connections.
    let bytesReadForResponses = Atomic<Int>(0)
}
