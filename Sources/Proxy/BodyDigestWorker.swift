import Crypto
import Dispatch
import NIOCore
import Synchronization
import Verifier

/// Where one request body's digests are computed: a serial executor, so stream checksums see the bytes
/// in order.
protocol DigestExecutor: Sendable {
    func execute(_ work: @escaping @Sendable () -> Void)
}

extension DispatchQueue: DigestExecutor {
    func execute(_ work: @escaping @Sendable () -> Void) { async(execute: work) }
}

/// When and how large aws-chunked bodies have their chunk hashes and checksums computed off the event
/// loop, so that one upload's hashing and forwarding use two cores instead of one.
struct DigestOffload: Sendable {
    /// Bodies declaring at least this many decoded bytes are offloaded; smaller ones are hashed inline,
    /// where a thread hop would cost more than it saves.
    var minimumLength: Int64 = 1 << 20
    /// Checksums cheap enough for the event loop: a body whose only work is one of these (unsigned chunks
    /// with a CRC trailer) stays inline. The CRCs run at ~4 GB/s; measured with `bench/chunked-bench.sh`,
    /// handing them to a worker cost more CPU than it freed (1.22 s against 1.09 s a GiB, no faster).
    var inlineChecksums: Set<ChecksumAlgorithm> = [.crc32, .crc32c, .crc64nvme]
    /// Bytes handed to the worker and not yet hashed above which the client is not read (memory bound).
    var maxQueuedBytes: Int = 4 << 20
    /// How many bodies hash off the loop at once, shared by every copy of this value.
    var slots = DigestSlots(limit: System.coreCount)
    /// The serial executor of one request. It targets the global concurrent queue, whose thread pool
    /// libdispatch sizes to the cores: an untargeted serial queue is "overcommit" and would get a thread
    /// of its own, so a hundred concurrent uploads would hash on a hundred threads.
    var makeExecutor: @Sendable () -> any DigestExecutor = {
        DispatchQueue(label: "s3-sidecar.body-digest", target: .global())
    }
}

/// How many bodies may hash off the event loop at once, process-wide. Past the cores another worker frees
/// no time (every core is busy already) and its queue only costs memory, so further bodies hash inline.
final class DigestSlots: Sendable {
    let limit: Int
    private let used = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot if one is free.
    func acquire() -> Bool {
        used.withLock { used in
            guard used < limit else { return false }
            used += 1
            return true
        }
    }

    func release() {
        used.withLock { $0 -= 1 }
    }

    var inUse: Int { used.withLock { $0 } }
}

/// One step of the hashing, in stream order.
enum DigestStep: Sendable {
    /// Decoded bytes: a read-only slice of the buffer also being forwarded (no copy).
    case data(ByteBuffer)
    /// The chunk whose bytes came before has ended: check its signature.
    case chunkEnd(AWSChunkedDecoder.ChunkCheck)
    /// The body has ended: compare the checksums (trailer first, then header) with what the client sent.
    case finish([(algorithm: ChecksumAlgorithm, base64: String)])
}

/// The hashing state of one body. Touched only from its serial executor, one job at a time.
private final class DigestState: @unchecked Sendable {
    let expectations: AWSChunkedDecoder.Expectations
    var chunkHash = SHA256()
    var checksums: [StreamingChecksum]
    var failed = false
    let signed: Bool

    init(_ expectations: AWSChunkedDecoder.Expectations) {
        self.expectations = expectations
        signed = expectations.payload != .unsignedWithTrailer
        checksums = [expectations.trailerChecksum, expectations.headerChecksum?.algorithm].compactMap { $0 }
            .map(StreamingChecksum.init)
    }

    /// Runs the steps; the first failure stops this and every later job.
    func run(_ steps: [DigestStep]) -> S3Error? {
        guard !failed else { return nil }
        do throws(S3Error) {
            for step in steps {
                switch step {
                case .data(let bytes):
                    bytes.withUnsafeReadableBytes { raw in
                        if signed { chunkHash.update(bufferPointer: raw) }
                        for i in checksums.indices { checksums[i].update(raw) }
                    }
                case .chunkEnd(let check):
                    let digest = chunkHash.finalize()
                    chunkHash = SHA256()
                    try AWSChunkedDecoder.verifyChunk(check, dataHash: digest, expectations: expectations)
                case .finish(let provided):
                    for (state, expected) in zip(checksums, provided) {
                        try AWSChunkedDecoder.verifyChecksum(state, provided: expected.base64)
                    }
                }
            }
            return nil
        } catch {
            failed = true
            return error
        }
    }
}

/// Set once the request is abandoned, so queued work is skipped; read from the executor's thread.
private final class CancelFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// Computes one aws-chunked body's chunk hashes and checksums on another thread while the event loop
/// forwards it. Lives on the event loop: jobs are submitted there and their verdicts come back there
/// (`onProgress`). Safe only because the body's last piece waits for `isDone` (see `RequestBodyVerifier`).
final class BodyDigestWorker {
    private let eventLoop: any EventLoop
    private let executor: any DigestExecutor
    private let state: DigestState
    private let cancelled = CancelFlag()
    /// The slot this worker holds, given back when it is gone (its last job has come back).
    private let slots: DigestSlots?
    let maxQueuedBytes: Int
    /// Bytes submitted and not yet hashed.
    private(set) var queuedBytes = 0
    private var outstandingJobs = 0
    private var finishSubmitted = false
    private var finishPassed = false
    /// The first failure: the body must be refused.
    private(set) var failure: S3Error?
    /// Called on the event loop after each job, unless cancelled.
    var onProgress: (() -> Void)?

    init(
        expectations: AWSChunkedDecoder.Expectations,
        eventLoop: any EventLoop,
        executor: any DigestExecutor,
        maxQueuedBytes: Int,
        slots: DigestSlots? = nil
    ) {
        self.eventLoop = eventLoop
        self.executor = executor
        self.state = DigestState(expectations)
        self.maxQueuedBytes = maxQueuedBytes
        self.slots = slots
    }

    deinit {
        slots?.release()
    }

    /// Too much is queued: stop reading the client until a job comes back.
    var isBacklogged: Bool { queuedBytes >= maxQueuedBytes }

    /// Every step passed, the final checksum comparison included.
    var isDone: Bool { finishPassed && outstandingJobs == 0 && failure == nil }

    func submit(_ steps: [DigestStep], bytes: Int) {
        guard !steps.isEmpty else { return }
        queuedBytes += bytes
        outstandingJobs += 1
        let state = self.state
        let cancelled = self.cancelled
        let loop = eventLoop
        let me = NIOLoopBound(self, eventLoop: loop)
        executor.execute {
            let error = cancelled.isSet ? nil : state.run(steps)
            loop.execute { me.value.completed(bytes: bytes, error: error) }
        }
    }

    /// Submits the end-of-body checksum comparison (once).
    func submitFinish(_ provided: [(algorithm: ChecksumAlgorithm, base64: String)]) {
        guard !finishSubmitted else { return }
        finishSubmitted = true
        submit([.finish(provided)], bytes: 0)
    }

    /// The request is over: skip queued work and report nothing more.
    func cancel() {
        cancelled.set()
        onProgress = nil
    }

    private func completed(bytes: Int, error: S3Error?) {
        queuedBytes -= bytes
        outstandingJobs -= 1
        if failure == nil, let error { failure = error }
        if finishSubmitted && outstandingJobs == 0 && !cancelled.isSet { finishPassed = true }
        onProgress?()
    }
}
