// `switchyard check-config FILE`: validate a config and print the resolved plan, or the precise error.
import Config

enum CheckConfigCommand {
    static func run(_ args: [String]) -> Int32 {
        if args == ["--help"] || args == ["-h"] {
            print("usage: switchyard check-config FILE   (validates FILE and prints the resolved plan; exit 2 on errors)")
            return 0
        }
        guard args.count == 1, !args[0].hasPrefix("-") else {
            writeErr("usage: switchyard check-config FILE\n")
            return 2
        }
        do {
            let config = try ConfigLoader.load(path: args[0])
            print(ConfigPlan.render(config), terminator: "")
            return 0
        } catch {
            writeErr("\(error.description)\n")
            return 2
        }
    }
}
