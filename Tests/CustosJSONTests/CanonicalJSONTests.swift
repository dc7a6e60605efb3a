import CustosJSON
import Testing

@Suite struct CanonicalJSONTests {
  func canonical(_ text: String) throws -> String {
    String(decoding: CanonicalJSON.encode(try JSONParser.parse(Array(text.utf8))), as: UTF8.self)
  }

  @Test func sortsKeysByUTF16AndStripsWhitespace() throws {
    #expect(try canonical(#"{ "b": 1, "a": [true, false, null], "\u00e9": "x", "\ud83d\ude00": 2, "\u20ac": 3 }"#)
      == #"{"a":[true,false,null],"b":1,"é":"x","€":3,"😀":2}"#)
  }

  @Test func escapesOnlyWhatRFC8785Escapes() throws {
    #expect(try canonical(#""\u0001\b\f\n\r\t\"\\\/\u007f\u2028""#) == "\"\\u0001\\b\\f\\n\\r\\t\\\"\\\\/\u{7f}\u{2028}\"")
  }

  @Test func integersAreExactAcrossTheInt64Range() throws {
    #expect(try canonical("[0,-0,9223372036854775807,-9223372036854775808,1764000000123456789]")
      == "[0,0,9223372036854775807,-9223372036854775808,1764000000123456789]")
  }

  @Test(arguments: [
    ("1.5", "floating-point"), ("1e3", "floating-point"), ("9223372036854775808", "64-bit range"),
    ("{\"a\":1,\"a\":2}", "duplicate key"), ("[1,]", "unexpected character"), ("01", "leading zeros"),
    ("\"\\ud800\"", "surrogate"), ("{\"a\":1} x", "after the JSON value"),
  ])
  func rejectsWhatTheLedgerCannotStoreExactly(_ input: String, _ reason: String) {
    #expect {
      _ = try JSONParser.parse(Array(input.utf8))
    } throws: { error in
      "\(error)".contains(reason)
    }
  }

  @Test func rejectsInvalidUTF8() {
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }  // encoded surrogate
    #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC0, 0xAF, 0x22]) }  // overlong
  }
}
