import RNNFormat
import Testing

@Suite struct JSONParserTests {
  func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
    try JSONParser.parse(text, maxDepth: maxDepth)
  }

  @Test func readsEveryKindOfValue() throws {
    let value = try parse(
      #" {"a": [1, -2, 3.5, 1e-7, true, false, null], "s": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00", "o": {}} "#)
    let items = try #require(value["a"]?.array)
    #expect(items.count == 7)
    #expect(items[0].integer == 1 && items[1].integer == -2)
    #expect(items[2].integer == nil && items[2].double == 3.5)
    #expect(items[3].integer == nil && items[3].double == 1e-7)
    #expect(items[4].bool == true && items[5].bool == false && items[6].isNull)
    #expect(value["s"]?.string == "x\"\\/\u{8}\u{c}\n\r\té😀")
    #expect(value["o"]?.object?.count == 0)
    #expect(value.object?.keys == ["a", "s", "o"])
  }

  @Test func integersStayExact() throws {
    #expect(try parse("9007199254740993").integer == 9_007_199_254_740_993)
    #expect(try parse("9223372036854775807").integer == Int.max)
    // Out of range, or not written as an integer: no integer, whatever the value.
    #expect(try parse("9223372036854775808").integer == nil)
    #expect(try parse("152.0").integer == nil)
    #expect(try parse("1E2").integer == nil)
    #expect(try parse("true").integer == nil)
  }

  @Test(arguments: [
    ("", "expected a value, found the end"), ("01", "unexpected text after the value"),
    ("[1,]", "expected a value"), ("{\"a\":1,}", "expected a string key"), ("[1 2]", #"expected "," or "]""#),
    ("-", "expected a digit"), ("1.", #"expected a digit after ".""#),
    ("1e", "expected a digit in the exponent"),
    ("\"a", "the string is not closed"), ("\"\\x\"", #"invalid escape \x"#),
    ("\"\\u12\"", "expected four hex digits"),
    (#""\udc00""#, #"lone surrogate \udc00"#), (#""\ud800\u0041""#, #"lone surrogate \ud800"#),
    ("\"\t\"", "control character 0x9 in a string"),
    ("{\"a\":1,\"a\":2}", #"key "a" appears twice in one object"#),
    ("tru", "expected true"), ("'a'", "expected a value"), ("\u{FEFF}1", "expected a value"),
    ("[[[1]]]", "nests deeper than 2 levels"),
  ])
  func refusesWhatIsNotStrictJSON(text: String, reason: String) {
    do {
      _ = try parse(text, maxDepth: 2)
      Issue.record("accepted \(text.debugDescription)")
    } catch {
      #expect(error.reason == reason, "\(text.debugDescription)")
    }
  }

  @Test func refusesInvalidUTF8() {
    let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]
    let result = bytes.withUnsafeBytes { raw in Result { () throws(JSONError) in try JSONParser.parse(raw) } }
    #expect(throws: JSONError.self) { try result.get() }
    if case .failure(let error) = result {
      #expect(error.offset == nil && error.reason == "is not valid UTF-8")
    }
  }
}
