// Every failure the router answers itself: one status, one OpenAI-style error body, one log line.
import HTTP

/// An error the router answers on the client's behalf.
struct RouterError {
    var status: Int
    var type: StaticString     // OpenAI "type": invalid_request_error for 4xx, server_error / upstream_error for 5xx
    var code: StaticString     // stable machine-readable code
    var message: String
    /// Seconds for a Retry-After header (503s that mean "busy, come back").
    var retryAfter: Int? = nil

    static func badRequest(_ message: String) -> RouterError {
        RouterError(status: 400, type: "invalid_request_error", code: "invalid_request", message: message)
    }
    static func invalidJSON(_ message: String) -> RouterError {
        RouterError(status: 400, type: "invalid_request_error", code: "invalid_json", message: message)
    }
    static func modelNotFound(_ model: String) -> RouterError {
        RouterError(status: 404, type: "invalid_request_error", code: "model_not_found",
                    message: "The model '\(model)' does not exist or is not served by this router")
    }
    static func notFound(_ path: String) -> RouterError {
        RouterError(status: 404, type: "invalid_request_error", code: "not_found", message: "No route for \(path)")
    }
    static func methodNotAllowed(_ method: String, _ path: String) -> RouterError {
        RouterError(status: 405, type: "invalid_request_error", code: "method_not_allowed",
                    message: "\(method) is not allowed on \(path)")
    }
    static func badGateway(_ message: String) -> RouterError {
        RouterError(status: 502, type: "upstream_error", code: "bad_gateway", message: message)
    }
    static func gatewayTimeout(_ message: String) -> RouterError {
        RouterError(status: 504, type: "upstream_error", code: "gateway_timeout", message: message)
    }
    static func overloaded(_ message: String) -> RouterError {
        RouterError(status: 503, type: "server_error", code: "overloaded", message: message, retryAfter: 1)
    }
    static func noReplica(_ pool: String) -> RouterError {
        RouterError(status: 503, type: "server_error", code: "no_replica_available",
                    message: "No replica of pool '\(pool)' is available right now")
    }
    static func framing(_ e: HTTPError) -> RouterError {
        switch e.status {
        case 413: return RouterError(status: 413, type: "invalid_request_error", code: "payload_too_large", message: e.reason)
        case 431: return RouterError(status: 431, type: "invalid_request_error", code: "headers_too_large", message: e.reason)
        case 501: return RouterError(status: 501, type: "invalid_request_error", code: "not_implemented", message: e.reason)
        default: return RouterError(status: 400, type: "invalid_request_error", code: "bad_request", message: e.reason)
        }
    }

    /// {"error":{"message":…,"type":…,"param":null,"code":…}}
    func body() -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(96 + message.utf8.count)
        b.append("{\"error\":{\"message\":")
        appendJSONString(&b, message)
        b.append(",\"type\":\"")
        b.append(type)
        b.append("\",\"param\":null,\"code\":\"")
        b.append(code)
        b.append("\"}}")
        return b
    }
}

func appendJSONString(_ b: inout [UInt8], _ s: String) {
    b.append(UInt8(ascii: "\""))
    for c in s.utf8 {
        switch c {
        case UInt8(ascii: "\""): b.append("\\\"")
        case UInt8(ascii: "\\"): b.append("\\\\")
        case 0x0A: b.append("\\n")
        case 0x0D: b.append("\\r")
        case 0x09: b.append("\\t")
        case 0..<0x20:
            b.append("\\u00")
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            b.append(hex[Int(c >> 4)]); b.append(hex[Int(c & 0xF)])
        default: b.append(c)
        }
    }
    b.append(UInt8(ascii: "\""))
}
