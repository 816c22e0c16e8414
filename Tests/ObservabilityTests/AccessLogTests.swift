// The access log never lets client-controlled text forge or break a line.
import XCTest
@testable import Observability

final class AccessLogTests: XCTestCase {
    func testControlBytesQuotesAndBackslashesAreEscaped() {
        XCTAssertEqual(AccessLog.safe("x\n2026 access req=forged"), #"x\n2026 access req=forged"#)
        XCTAssertEqual(AccessLog.safe("a\"b\\c\u{0}"), #"a\"b\\c\x0"#)
        XCTAssertEqual(AccessLog.safe("plain-model"), "plain-model")
    }

    func testValuesWithSpacesAreQuoted() {
        XCTAssertEqual(AccessLog.quotedIfNeeded("meta llama"), "\"meta llama\"")
        XCTAssertEqual(AccessLog.quotedIfNeeded("m"), "m")
        XCTAssertFalse(AccessLog.quotedIfNeeded("x\ny").contains("\n"))
    }
}
