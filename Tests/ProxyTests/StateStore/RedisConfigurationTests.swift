import Testing

@testable import Proxy

@Suite("Redis URL")
struct RedisConfigurationTests {
    @Test("host alone: port 6379, database 0, no TLS, no AUTH")
    func hostAlone() throws {
        let config = try RedisConfiguration(url: "redis://cache.internal")
        #expect(config.host == "cache.internal")
        #expect(config.port == 6379)
        #expect(config.database == 0)
        #expect(!config.tls)
        #expect(config.username == nil && config.password == nil)
        #expect(config.redactedURL == "redis://cache.internal:6379/0")
    }

    @Test("rediss:// means TLS; port and database are read")
    func tlsPortDatabase() throws {
        let config = try RedisConfiguration(url: "REDISS://10.0.0.5:6380/7")
        #expect(config.tls)
        #expect(config.host == "10.0.0.5")
        #expect(config.port == 6380)
        #expect(config.database == 7)
        #expect(config.redactedURL == "rediss://10.0.0.5:6380/7")
    }

    @Test("user and password are percent-decoded; the password never shows in the description")
    func userAndPassword() throws {
        let config = try RedisConfiguration(url: "redis://side%40car:p%40ss%3Aw%2Fo%25rd@cache:6379/2")
        #expect(config.username == "side@car")
        #expect(config.password == "p@ss:w/o%rd")
        #expect(config.redactedURL == "redis://side%40car:***@cache:6379/2")
        #expect(!"\(config)".contains("p@ss") && !String(reflecting: config).contains("p@ss"))
        #expect(!"\(config)".contains("p%40ss"))
    }

    @Test("an unescaped @ in the password: the last @ ends the user information")
    func lastAtSign() throws {
        let config = try RedisConfiguration(url: "redis://:pa@ss@cache")
        #expect(config.username == nil)
        #expect(config.password == "pa@ss")
        #expect(config.host == "cache")
    }

    @Test("a password alone (redis://:password@host) authenticates the default user")
    func passwordOnly() throws {
        let config = try RedisConfiguration(url: "redis://:secret@cache")
        #expect(config.username == nil)
        #expect(config.password == "secret")
        #expect(config.redactedURL == "redis://:***@cache:6379/0")
    }

    @Test("a user without a password in the URL takes one set afterwards (from a file or the environment)")
    func passwordInjected() throws {
        var config = try RedisConfiguration(url: "redis://sidecar@cache")
        #expect(config.username == "sidecar")
        #expect(throws: RedisConfigurationError("a Redis user name needs a password")) { try config.validate() }
        config.password = "from-a-file"
        try config.validate()
        #expect(config.redactedURL == "redis://sidecar:***@cache:6379/0")
    }

    @Test("an IPv6 address in brackets, with and without a port")
    func ipv6() throws {
        let withPort = try RedisConfiguration(url: "redis://[::1]:7000/1")
        #expect(withPort.host == "::1")
        #expect(withPort.port == 7000)
        #expect(withPort.redactedURL == "redis://[::1]:7000/1")
        #expect(try RedisConfiguration(url: "redis://[fe80::1]").port == 6379)
    }

    @Test(
        "bad URLs are refused with a message that says what is wrong",
        arguments: [
            ("http://cache:6379", "must start with redis:// or rediss://"),
            ("memory", "must start with redis:// or rediss://"),
            ("redis://", "names no host"),
            ("redis://:pw@", "names no host"),
            ("redis://cache:0", "port must be a number from 1 to 65535"),
            ("redis://cache:65536", "port must be a number from 1 to 65535"),
            ("redis://cache:+80", "port must be a number from 1 to 65535"),
            ("redis://cache:", "port must be a number from 1 to 65535"),
            ("redis://cache/db1", "must be a database number"),
            ("redis://cache/-1", "must be a database number"),
            ("redis://cache/0?timeout=1", "no query or fragment"),
            ("redis://[::1:6379", "closing ]"),
            ("redis://[::1]x", "other than :port"),
            ("redis://user:p%4@cache", "% not followed by two hex digits"),
            ("redis://user:p%ff@cache", "not UTF-8"),
        ]
    )
    func badURLs(url: String, expected: String) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            (error as? RedisConfigurationError)?.message.contains(expected) == true
        }
    }

    @Test("an error about the password does not repeat the password")
    func errorHidesPassword() {
        #expect {
            try RedisConfiguration(url: "redis://user:hunter2%zz@cache")
        } throws: { error in
            !"\(error)".contains("hunter2")
        }
    }
}
