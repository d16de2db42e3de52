import Foundation
import Testing

/// The PyTorch formats through the command: --to pytorch / torch-safetensors, and the advice for
/// the choices the library asks the caller to make (--prefix, activations).
@Suite struct PyTorchTests {
  /// A torch-named safetensors file with `nn.RNN(3, 2)` + `nn.Linear(2, 1)` under each prefix.
  func stateDict(prefixes: [String]) -> [UInt8] {
    var header: [String] = []
    var offset = 0
    for prefix in prefixes {
      for (name, shape) in [
        ("rnn.weight_ih_l0", [2, 3]), ("rnn.weight_hh_l0", [2, 2]), ("rnn.bias_ih_l0", [2]),
        ("fc.weight", [1, 2]),
      ] {
        let bytes = shape.reduce(4, *)
        header.append(
          "\"\(prefix)\(name)\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + bytes)]}"
        )
        offset += bytes
      }
    }
    let json = Array("{\(header.joined(separator: ","))}".utf8)
    var file = withUnsafeBytes(of: UInt64(json.count).littleEndian) { [UInt8]($0) }
    file += json
    file += [UInt8](repeating: 0, count: offset)
    return file
  }

  @Test func choicesAreAskedForWithTheirFlags() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let two = folder.appendingPathComponent("two.safetensors").path
    try Data(stateDict(prefixes: ["encoder.", "decoder."])).write(to: URL(fileURLWithPath: two))
    let ambiguous = try CLI.run([
      "inspect", two, "--hidden-activation", "tanh", "--output-activation", "identity",
    ])
    #expect(ambiguous.status == 1 && ambiguous.stderr.contains("pass --prefix"), "\(ambiguous.stderr)")
    let chosen = try CLI.run([
      "inspect", two, "--prefix", "decoder.rnn", "--hidden-activation", "tanh", "--output-activation",
      "identity",
    ])
    #expect(chosen.status == 0 && chosen.stdout.contains("torch-safetensors"), "\(chosen.stderr)")
    let one = folder.appendingPathComponent("one.safetensors").path
    try Data(stateDict(prefixes: [""])).write(to: URL(fileURLWithPath: one))
    // Running needs the activations (inspect and validate stand in for them).
    let noActivation = try CLI.run(["convert", one, folder.appendingPathComponent("one.rnn").path])
    #expect(noActivation.status == 1 && noActivation.stderr.contains("pass --hidden-activation"))
  }

  @Test func convertsToPyTorchAndBackExactly() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let cuisine = CLI.root.appendingPathComponent("Fixtures/cuisine.rnn").path
    for (name, to) in [("m.pt", [String]()), ("m.safetensors", ["--to", "torch-safetensors"])] {
      let out = folder.appendingPathComponent(name).path
      let back = folder.appendingPathComponent(name + ".rnn").path
      let converted = try CLI.run(["convert", cuisine, out] + to)
      #expect(converted.status == 0, "\(converted.stderr)")
      #expect(try CLI.run(["convert", out, back]).status == 0)
      let diff = try CLI.run(["diff", cuisine, back])
      #expect(diff.status == 0, "\(diff.stdout)\(diff.stderr)")
    }
  }
}
