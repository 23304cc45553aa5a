import ArgumentParser

/// `s3-sidecar`: an S3 SigV4 authorization reverse proxy.
@main
struct SidecarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "s3-sidecar",
        abstract: "An S3 SigV4 authorization reverse proxy: verifies every request, forwards what passes.",
        subcommands: [ServeCommand.self, CheckConfigCommand.self]
    )
}
