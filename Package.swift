// swift-tools-version:6.0
// Switchyard: one target per layer (see ../shared/DESIGN.md); each imports only layers below it.
import PackageDescription

let optimise: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]
// Routing's tests drive the prefix index over millions of blocks: optimised in debug builds too (measured:
// the million-prompt memory-cap test took 12.0 s at -Onone, 1.8 s at -O; preconditions stay on).
let optimiseInDebugToo: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "Switchyard",
    products: [
        .executable(name: "switchyard", targets: ["CLI"]),
    ],
    targets: [
        // C modules: each C library is touched by exactly one layer.
        .systemLibrary(name: "CLibEV", path: "Sources/CLibEV"),
        .systemLibrary(name: "CYAML", path: "Sources/CYAML"),
        .systemLibrary(name: "CXXHash", path: "Sources/CXXHash"),

        .target(name: "Runtime", dependencies: ["CLibEV"], swiftSettings: optimise),
        .target(name: "HTTP", swiftSettings: optimise),
        .target(name: "Observability", swiftSettings: optimise),
        // Deterministic request mixes (shared prefixes, multi-turn chats, ...) for the fleet simulation and load tools.
        .target(name: "Workload", swiftSettings: optimise),
        .target(name: "Config", dependencies: ["CYAML"], swiftSettings: optimise),
        .target(name: "Fleet", dependencies: ["Config", "Runtime", "HTTP", "Observability"], swiftSettings: optimise),
        .target(name: "Routing", dependencies: ["Fleet", "Config", "CXXHash"], swiftSettings: optimise + optimiseInDebugToo),
        .target(name: "Proxy", dependencies: ["Runtime", "HTTP", "Fleet", "Routing", "Config", "Observability"], swiftSettings: optimise),
        .target(name: "Sim", dependencies: ["Runtime", "HTTP", "Observability", "Routing", "Fleet", "Config", "Workload"], swiftSettings: optimise),
        .target(name: "Bench", dependencies: ["Runtime", "HTTP"], swiftSettings: optimise),
        .executableTarget(name: "CLI", dependencies: ["Proxy", "Sim", "Bench", "Config", "Runtime", "HTTP", "Observability", "Workload"], swiftSettings: optimise),
        // benchmarks/prefix-index/run.sh: the cost of a routing decision, its prefix-index step and the whole of it.
        .executableTarget(name: "prefix-index-bench", dependencies: ["Routing", "Fleet", "Config"], path: "benchmarks/prefix-index/Sources", swiftSettings: optimise),

        // Test-only oracle: the nodejs http-parser, for the differential codec test.
        .systemLibrary(name: "CHTTPParser", path: "Tests/CHTTPParser"),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "CHTTPParser"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Fleet", "Config"]),
        .testTarget(name: "SimTests", dependencies: ["Sim", "HTTP", "Routing", "Fleet", "Config", "Workload"]),
        .testTarget(name: "IntegrationTests", dependencies: ["HTTP"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability"]),
        .testTarget(name: "FleetTests", dependencies: ["Fleet", "Config", "Runtime", "HTTP", "Routing"]),   // Routing: its seeded SplitMix64
    ]
)
