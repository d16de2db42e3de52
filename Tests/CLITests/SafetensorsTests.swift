import Foundation
import Testing

/// The safetensors reader treats its input as hostile: each case is a one-line error.
@Suite struct SafetensorsTests {
  func file(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    var bytes = withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { [UInt8]($0) }
    bytes += json
    bytes += data
    return bytes
  }

  @Test func hostileFilesGiveOneLineErrors() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let good = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    let cases: [(String, [UInt8], String)] = [
      ("short", [1, 2, 3], "fewer than 8"),
      ("huge-header", file(good, declaredLength: 1 << 40), "over the limit"),
      ("truncated-header", file(good, declaredLength: 500), "only"),
      ("not-json", file("{nope"), "header: is not valid JSON: at byte 1: expected a string key"),
      ("not-object", file("[1, 2]"), "header: is not a JSON object"),
      ("deep", file("{\"a\":" + String(repeating: "[", count: 5000) + "}"), "nests deeper"),
      (
        "past-end", file(#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,400]}}"#, data: [0, 0, 0, 0]),
        "not within"
      ),
      (
        "overflow",
        file(
          #"{"b":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
        "overflows"
      ),
      (
        "overlap",
        file(
          #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
          data: [0, 0, 0, 0]), "overlaps"
      ),
      (
        "bad-dtype", file(#"{"b":{"dtype":"I4","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
        "not F32"
      ),
      // validate checks structure: a missing activation is not a problem of the file, the missing W is.
      ("no-activation", file(good, data: [0, 0, 0, 0]), "\"W\": is required"),
      (
        "missing-W",
        file(
          #"{"__metadata__":{"rnn.hidden_activation":"tanh","rnn.output_activation":"identity"},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
          data: [0, 0, 0, 0]), "\"W\": is required"
      ),
    ]
    try expectOneLineErrors(cases, in: folder)
  }

  /// The header is read as the safetensors library reads it: UTF-8 JSON (no UTF-16, no byte order
  /// mark), sizes and offsets exact non-negative integers (not true, 152.0, 1e2 or -1, and
  /// 9007199254740993 stays itself), no key twice, nothing after the object but spaces.
  @Test func headersAreReadStrictly() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let good = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
    func raw(_ header: [UInt8], data: [UInt8] = [0, 0, 0, 0]) -> [UInt8] {
      withUnsafeBytes(of: UInt64(header.count).littleEndian) { [UInt8]($0) } + header + data
    }
    func tensor(_ shape: String, _ offsets: String = "[0,4]") -> [UInt8] {
      file(
        #"{"b":{"dtype":"F32","shape":"# + shape + #","data_offsets":"# + offsets + "}}", data: [0, 0, 0, 0])
    }
    let utf16 = Array(good.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
    let cases: [(String, [UInt8], String)] = [
      ("utf16-bom", raw([0xFF, 0xFE] + utf16), "header: is not valid JSON: is not valid UTF-8"),
      ("utf16", raw(utf16), "header: is not valid JSON: at byte 1: expected a string key"),
      (
        "utf8-bom", raw([0xEF, 0xBB, 0xBF] + Array(good.utf8)),
        "header: is not valid JSON: at byte 0: expected a value"
      ),
      ("true", tensor("[true]"), "shape has an entry that is not a non-negative integer"),
      ("fraction", tensor("[1.0]"), "shape has an entry that is not a non-negative integer"),
      ("exponent", tensor("[1e0]"), "shape has an entry that is not a non-negative integer"),
      ("negative", tensor("[-1]"), "shape has an entry that is not a non-negative integer"),
      ("string-dim", tensor(#"["1"]"#), "shape has an entry that is not a non-negative integer"),
      ("float-offset", tensor("[1]", "[0,4.0]"), "data_offsets [0, 4.0] are not within the 4-byte data"),
      ("exact", tensor("[9007199254740993]"), "has 4 bytes, expected 9007199254740993 × 4"),
      (
        "duplicate",
        file(
          #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
          data: [0, 0, 0, 0]), #"key "b" appears twice in one object"#
      ),
      ("surrogate", file(#"{"\ud800":1}"#), #"lone surrogate \ud800"#),
      ("trailing-comma", file(#"{"b":1,}"#), "expected a string key"),
      ("control", file("{\"a\u{1}\":1}"), "control character 0x1 in a string"),
      ("garbage", file(good + "x", data: [0, 0, 0, 0]), "unexpected text after the value"),
      ("leading-zero", tensor("[01]"), #"expected "," or "]""#),
      ("metadata-number", file(#"{"__metadata__":{"a":1}}"#), #""a" is not a string"#),
    ]
    try expectOneLineErrors(cases, in: folder)
    // The writer pads with spaces, and so may others: trailing whitespace is part of the format.
    let padded = folder.appendingPathComponent("padded.safetensors").path
    try Data(file(good + "    ", data: [0, 0, 0, 0])).write(to: URL(fileURLWithPath: padded))
    let result = try CLI.run([
      "convert", padded, folder.appendingPathComponent("padded.rnn").path, "--from", "safetensors",
    ])
    let output = result.stdout + result.stderr
    #expect(result.status == 1 && output.contains("has no rnn.hidden_activation"), "\(output)")
  }

  func expectOneLineErrors(_ cases: [(String, [UInt8], String)], in folder: URL) throws {
    for (name, bytes, reason) in cases {

      let path = folder.appendingPathComponent("\(name).safetensors").path
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let result = try CLI.run(["validate", path, "--from", "safetensors"])
      let message = (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(result.status == 1, "\(name): \(message)")
      #expect(message.split(separator: "\n").count == 1, "\(name): \(message)")
      #expect(message.contains(path) && message.contains(reason), "\(name): \(message)")
    }
  }

  @Test func convertsToSafetensorsAndBackExactly() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let st = folder.appendingPathComponent("m.safetensors").path
    let back = folder.appendingPathComponent("back.rnn").path
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), st, "--verify"]).status == 0)
    #expect(try CLI.run(["convert", st, back, "--verify"]).status == 0)
    let diff = try CLI.run(["diff", CLI.fixture("token-f32.rnn"), back])
    #expect(diff.status == 0, "\(diff.stdout)")
  }
}
