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
      ("not-json", file("{nope"), "not a JSON object"),
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
