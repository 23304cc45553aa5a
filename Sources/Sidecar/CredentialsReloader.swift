import Dispatch
import Foundation
import Logging
import Metrics
import Proxy

/// Reloads the credentials file on SIGHUP and when the file changes on disk: new keys and policies apply
/// to new requests, requests in flight finish with what they started with, connections stay up. A file
/// that does not load is refused and logged, and the keys in force stay.
final class CredentialsReloader: @unchecked Sendable {
    // @unchecked: `signalSource`, `timer` and `lastStamp` are only touched on `queue`, a serial queue (and in
    // `init`, before any of it runs).
    private let path: String
    private let keys: ReloadableKeys
    private let logger: Logger
    private let queue = DispatchQueue(label: "s3-sidecar.credentials-reload")
    private var signalSource: (any DispatchSourceSignal)?
    private var timer: (any DispatchSourceTimer)?
    private var lastStamp: Stamp

    init(path: String, keys: ReloadableKeys, logger: Logger) {
        self.path = path
        self.keys = keys
        self.logger = logger
        lastStamp = Self.stamp(path)
    }

    /// Starts listening for SIGHUP and watching the file (checked every `interval` seconds).
    func start(interval: Double = 2) {
        queue.sync {
            // The default action of SIGHUP is to terminate; the dispatch source takes it instead.
            signal(SIGHUP, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
            source.setEventHandler { [self] in reload(reason: "SIGHUP") }
            source.resume()
            signalSource = source
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + interval, repeating: interval)
            timer.setEventHandler { [self] in
                let stamp = Self.stamp(path)
                if stamp != lastStamp { reload(reason: "the file changed") }
            }
            timer.resume()
            self.timer = timer
        }
    }

    /// `s3_sidecar_reloads_total{result="success"|"failure"}`.
    private static let applied = Counter(label: "s3_sidecar_reloads_total", dimensions: [("result", "success")])
    private static let refused = Counter(label: "s3_sidecar_reloads_total", dimensions: [("result", "failure")])

    private func reload(reason: String) {
        lastStamp = Self.stamp(path)
        let loaded = Result { () throws(CredentialsFile.Error) in try CredentialsFile.load(path: path) }
        switch loaded {
        case .failure(let error):
            Self.refused.increment()
            logger.error(
                "credentials reload refused; the keys in force stay",
                metadata: ["reload.reason": "\(reason)", "error": "\(error.description)"]
            )
        case .success(let file):
            let change = keys.replace(
                with: .init(credentials: file.credentials, policies: file.policies, apiKeys: file.apiKeys)
            )
            Self.applied.increment()
            logger.notice(
                "credentials reloaded",
                metadata: [
                    "reload.reason": "\(reason)",
                    "keys.added": "\(change.added.joined(separator: ","))",
                    "keys.removed": "\(change.removed.joined(separator: ","))",
                    "keys.changed": "\(change.changed.joined(separator: ","))",
                    "keys.count": "\(file.credentials.count)",
                    "api_keys.count": "\(file.apiKeys.count)",
                ]
            )
        }
    }

    /// What identifies a version of the file. Symbolic links are followed: a Kubernetes Secret volume
    /// swaps a link to a new file rather than writing the old one.
    private struct Stamp: Equatable {
        var resolvedPath: String
        var modified: Date?
        var size: Int?
    }

    private static func stamp(_ path: String) -> Stamp {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let attributes = try? FileManager.default.attributesOfItem(atPath: resolved)
        return Stamp(
            resolvedPath: resolved,
            modified: attributes?[.modificationDate] as? Date,
            size: (attributes?[.size] as? NSNumber)?.intValue
        )
    }
}
