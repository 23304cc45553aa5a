import Dispatch
import Foundation
import Logging
import Metrics
import Proxy

/// Reloads the credentials file on SIGHUP and when the file changes on disk: new keys and policies apply
/// to new requests, requests in flight finish with what they started with, connections stay up. A file
/// that does not load is refused and logged, and the keys in force stay. The listener's TLS certificate and
/// key are reloaded the same way (SIGHUP, or either file changing): new connections get the new pair, and a
/// pair that does not load is refused and logged, the old one staying in force.
final class CredentialsReloader: @unchecked Sendable {
    // @unchecked: `signalSource`, `timer`, `lastStamp` and `lastTLSStamps` are only touched on `queue`, a
    // serial queue (and in `init`, before any of it runs).
    private let path: String
    private let keys: ReloadableKeys
    private let tls: ListenerTLS?
    /// Also run on SIGHUP (after the reloads): the configuration file's check for options needing a restart.
    private let onSignal: (@Sendable () -> Void)?
    private let logger: Logger
    private let queue = DispatchQueue(label: "s3-sidecar.credentials-reload")
    private var signalSource: (any DispatchSourceSignal)?
    private var timer: (any DispatchSourceTimer)?
    private var lastStamp: Stamp
    private var lastTLSStamps: [Stamp]

    init(
        path: String,
        keys: ReloadableKeys,
        tls: ListenerTLS? = nil,
        onSignal: (@Sendable () -> Void)? = nil,
        logger: Logger
    ) {
        self.path = path
        self.keys = keys
        self.tls = tls
        self.onSignal = onSignal
        self.logger = logger
        lastStamp = Self.stamp(path)
        lastTLSStamps = tls.map { [Self.stamp($0.certificatePath), Self.stamp($0.keyPath)] } ?? []
    }

    /// Starts listening for SIGHUP and watching the file (checked every `interval` seconds).
    func start(interval: Double = 2) {
        queue.sync {
            // The default action of SIGHUP is to terminate; the dispatch source takes it instead.
            signal(SIGHUP, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
            source.setEventHandler { [self] in
                reload(reason: "SIGHUP")
                reloadTLS(reason: "SIGHUP")
                onSignal?()
            }
            source.resume()
            signalSource = source
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + interval, repeating: interval)
            timer.setEventHandler { [self] in
                let stamp = Self.stamp(path)
                if stamp != lastStamp { reload(reason: "the file changed") }
                if let tls, [Self.stamp(tls.certificatePath), Self.stamp(tls.keyPath)] != lastTLSStamps {
                    reloadTLS(reason: "the file changed")
                }
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
            let change = keys.replace(with: file.snapshot)
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

    private func reloadTLS(reason: String) {
        guard let tls else { return }
        lastTLSStamps = [Self.stamp(tls.certificatePath), Self.stamp(tls.keyPath)]
        do {
            try tls.reload()
            logger.notice(
                "TLS certificate reloaded; new connections use it",
                metadata: ["reload.reason": "\(reason)", "tls.certificate": "\(tls.certificatePath)"]
            )
        } catch {
            // Often the two files are being replaced one after the other: the next change retries.
            logger.error(
                "TLS reload refused; the certificate in force stays",
                metadata: [
                    "reload.reason": "\(reason)", "tls.certificate": "\(tls.certificatePath)", "error": "\(error)",
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
