// Child processes that must not outlive their parent (the demo's replicas and router).
import CLibEV
import Glibc

public enum ParentWatch {
    /// The environment variable a parent sets (to its own pid) on children that must die with it.
    public static let variable = "SWITCHYARD_EXIT_WITH_PARENT"

    /// If the parent asked for it: get SIGTERM when the parent dies, and exit at once if it already has.
    public static func applyIfRequested() {
        guard let v = getenv(variable), let parent = pid_t(String(cString: v)) else { return }
        _ = sy_set_parent_death_signal(SIGTERM)
        if getppid() != parent { exit(1) }   // the parent died before the signal was armed
    }
}
