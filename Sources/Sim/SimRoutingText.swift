// The routing text of a simulated chat request: byte for byte what the proxy's JSON inspector renders.
import Workload

/// Renders a conversation as `JSONInspector.inspect(_:routingText:)` renders its `messages`
/// (Sources/HTTP/RoutingText.swift): per message `role US content US name US tool_calls US tool_call_id RS`,
/// here with no name, tool calls or tool call id. Going through the inspector itself would mean writing and
/// scanning a JSON body per request, about ten times the cost of the rest of the routing step; a test
/// (FleetSimulationTests) holds the two renderings equal for every workload, so a change of format there
/// fails here until this function follows.
enum SimRoutingText {
    static let unitSeparator: UInt8 = 0x1F
    static let recordSeparator: UInt8 = 0x1E
    /// The proxy routes on at most this much of the text (JSONInspector's default `routingTextLimit`).
    static let limit = 256 * 1024

    /// Replaces `out` with the rendering of `messages` (uncapped; the caller routes on its first `limit` bytes).
    static func render(_ messages: [ChatMessage], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        for m in messages {
            out.append(contentsOf: m.role.rawValue.utf8)
            out.append(unitSeparator)
            out.append(contentsOf: m.content)
            out.append(unitSeparator)   // name
            out.append(unitSeparator)   // tool_calls
            out.append(unitSeparator)   // tool_call_id
            out.append(recordSeparator)
        }
    }
}
