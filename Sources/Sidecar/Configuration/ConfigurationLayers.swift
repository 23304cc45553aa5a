import Configuration
import Foundation

/// Where the `serve` options come from, and the one place that puts them together: a swift-configuration
/// `ConfigReader` over four providers, highest first: the flags, the environment, the configuration file,
/// the defaults (``ServeSettings/defaults``). `serve`, its SIGHUP check and `check-config` all read through
/// it, so the three cannot disagree on precedence.
///
/// The first provider with a value for a key wins, whole: a list given by repeated flags replaces the file's
/// list rather than adding to it, as the README says. Each layer is checked on its own before it joins (a
/// reader passes over a value of the wrong type quietly), so an error names the key, or the variable, and
/// where it came from.
struct ConfigurationLayers {
    /// What the command line said (``ServeSettings/init(commandLine:)``).
    var flags: ServeSettings
    /// The process environment: only ``ServeSettings/environmentVariables`` are read from it.
    var environment: [String: String]
    /// The configuration file, if any (`--config`, else `S3_SIDECAR_CONFIG`).
    var configFile: String?

    init(
        flags: ServeSettings = ServeSettings(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        configFile: String?
    ) {
        self.flags = flags
        self.environment = environment
        self.configFile = configFile
    }

    /// The reader over every layer; the file is read now.
    func reader() throws(ConfigurationFieldError) -> ConfigReader {
        let environmentProvider = ServeSettings.environmentProvider(environment)
        _ = try ServeSettings.checkedEnvironment(environment)
        var providers: [any ConfigProvider] = [flags.provider(named: "flags"), environmentProvider]
        if let configFile {
            providers.append(try ServeSettings.load(configFile: configFile).provider(named: configFile))
        }
        providers.append(ServeSettings.defaults.provider(named: "defaults"))
        return ConfigReader(providers: providers)
    }

    /// Every option as the layers say it, defaults filled in; not yet checked (`ServeOptions.resolve`).
    func settings() throws(ConfigurationFieldError) -> ServeSettings {
        ServeSettings(reading: try reader())
    }
}
