// Verb dispatch, usage text and exit codes (0 ok, 1 runtime failure, 2 bad usage or config).
import Glibc
import Observability
import Runtime

enum SwitchyardCLI {
    static let version = "0.1.0"

    static let usage = """
    switchyard \(version) — a request router for LLM inference fleets

    usage:
      switchyard serve -c FILE
      switchyard serve --listen HOST:PORT --replica URL [--replica URL ...] [--policy kv-aware|prefix-affinity|consistent-hash|p2c|least-request|round-robin]
                       [--model NAME ...] [--admin HOST:PORT] [--no-access-log]
      switchyard sim [--port 9001] [--replicas 1] [--model sim-llama] [--speedup 1] [fault flags]  (see `switchyard sim --help`)
      switchyard simulate [--replicas 64] [--policies round-robin,kv-aware,...] [--workload shared-prefix|multi-turn|hot-spot|unique]
                          [--rate R] [--duration 60] [--seed 1]  (see `switchyard simulate --help`)
      switchyard demo [--requests 300] [--concurrency 32] [--replicas 4] [--policies round-robin,kv-aware] [--speedup 1]
      switchyard check-config FILE
      switchyard version

    """

    static func run(_ args: [String]) -> Int32 {
        ParentWatch.applyIfRequested()
        guard let verb = args.first else {
            writeErr(usage)
            return 2
        }
        let rest = Array(args.dropFirst())
        do {
            switch verb {
            case "serve": return try ServeCommand.run(rest)
            case "sim": return try SimCommand.run(rest)
            case "simulate": return try SimulateCommand.run(rest)
            case "demo": return try DemoCommand.run(rest)
            case "check-config": return CheckConfigCommand.run(rest)
            case "version", "--version": print("switchyard \(version)"); return 0
            case "help", "--help", "-h": print(usage); return 0
            default:
                writeErr("switchyard: unknown command '\(verb)'\n\n" + usage)
                return 2
            }
        } catch let e as UsageError {
            writeErr("switchyard \(verb): \(e.message)\n")
            return 2
        } catch {
            writeErr("switchyard \(verb): \(error)\n")
            return 1
        }
    }
}

struct UsageError: Error { var message: String }

func writeErr(_ s: String) {
    var t = s
    t.withUTF8 { p in _ = write(2, p.baseAddress, p.count) }
}
