// The three ways to get a SwitchyardConfig: a YAML file, YAML text, or the quick-start command-line flags.
import CYAML
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum ConfigLoader {
    /// A config is a page of YAML; anything this big is the wrong file, not a config.
    static let maxFileBytes = 16 << 20
    /// The `file` of errors about quick-start flags.
    public static let commandLine = "<command line>"

    /// Reads and validates the file at `path`; errors name the file as `path` was given.
    public static func load(path: String) throws(ConfigError) -> SwitchyardConfig {
        let bytes = try readFile(path)
        var config = try parse(bytes: bytes, file: path)
        config.sourceFile = path
        return config
    }

    /// Validates YAML text; `file` is the name used in errors and recorded as `sourceFile`.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> SwitchyardConfig {
        try parse(bytes: Array(yaml.utf8), file: file)
    }

    static func parse(bytes: [UInt8], file: String) throws(ConfigError) -> SwitchyardConfig {
        let document = try YAMLTree.read(bytes, file: file)
        var config = try ConfigDecoder(file: file).decode(document)
        config.sourceFile = file
        return config
    }

    /// Quick start without a file: one pool named "default" over `replicas`.
    /// Errors have file `<command line>`, line 0, and column = the 1-based position of the offending
    /// `--replica`/`--model` among its kind (0 for `--listen`, `--policy` and a missing `--replica`).
    public static func fromFlags(listen: String, replicas: [String], policy: String?, models: [String]) throws(ConfigError) -> SwitchyardConfig {
        func fail(_ flag: String, _ position: Int, _ message: String) -> ConfigError {
            ConfigError(file: commandLine, line: 0, column: position, message: "\(flag): \(message)")
        }
        let address: ListenAddress
        do { address = try ValueSyntax.listenAddress(listen) } catch { throw fail("--listen", 0, error.message) }

        if replicas.isEmpty { throw fail("--replica", 0, "give at least one replica, like --replica http://127.0.0.1:9001") }
        var replicaAddresses: [ReplicaAddress] = []
        for (index, text) in replicas.enumerated() {
            let replica: ReplicaAddress
            do { replica = try ValueSyntax.replicaAddress(text) } catch { throw fail("--replica", index + 1, error.message) }
            if replicaAddresses.contains(replica) { throw fail("--replica", index + 1, "replica '\(replica)' is given twice") }
            replicaAddresses.append(replica)
        }

        var kind = PolicyConfig()
        if let policy {
            do { kind = PolicyConfig(kind: try ValueSyntax.policy(policy)) } catch { throw fail("--policy", 0, error.message) }
        }

        var modelNames: [String] = []
        for (index, model) in models.enumerated() {
            if model.isEmpty { throw fail("--model", index + 1, "a model name cannot be empty") }
            if modelNames.contains(model) { throw fail("--model", index + 1, "model '\(model)' is given twice") }
            modelNames.append(model)
        }
        let pool = PoolConfig(name: "default", models: modelNames, replicas: replicaAddresses, policy: kind)
        return SwitchyardConfig(listen: [address], pools: [pool])
    }

    private static func readFile(_ path: String) throws(ConfigError) -> [UInt8] {
        func cannotRead(_ code: Int32) -> ConfigError {
            ConfigError(file: path, line: 0, column: 0, message: "cannot read: \(String(cString: strerror(code)))")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw cannotRead(errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw cannotRead(errno)
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maxFileBytes {
                throw ConfigError(file: path, line: 0, column: 0, message: "cannot read: larger than \(maxFileBytes >> 20)MiB, so not a config file")
            }
        }
    }
}
