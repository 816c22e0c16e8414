// Entry point only: everything lives in SwitchyardCLI so that nothing runs main-actor isolated.
import Glibc

exit(SwitchyardCLI.run(Array(CommandLine.arguments.dropFirst())))
