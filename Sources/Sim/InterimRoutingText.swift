// INTERIM: the routing text of a chat request in the fleet simulation, until the HTTP layer's renderer lands.
import Workload

/// Renders a conversation the way the router's JSON inspector turns `messages` into routing text, so the
/// simulated policies see the bytes the real ones would. INTERIM: a simple prefix-stable rendering
/// (role, 0x1F, content, 0x1E per message); when the HTTP layer's renderer (Sources/HTTP/RoutingText.swift,
/// driven by JSONInspector) is on main, call it here instead. This is the only function to switch.
enum SimRoutingText {
    static let unitSeparator: UInt8 = 0x1F
    static let recordSeparator: UInt8 = 0x1E

    /// Replaces `out` with the rendering of `messages`; the rendering of a conversation is a byte prefix
    /// of the rendering of the same conversation with more messages.
    static func render(_ messages: [ChatMessage], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        for m in messages {
            out.append(contentsOf: m.role.rawValue.utf8)
            out.append(unitSeparator)
            out.append(contentsOf: m.content)
            out.append(recordSeparator)
        }
    }
}
