import Foundation
import RNNKit
import Testing

/// A killed write never leaves a partial file: the output either does not exist or is complete.
@Suite struct AtomicWriteTests {
  @Test func killingConvertAtAnyMomentLeavesNoPartialOutput() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    // About 40 MB, so that a conversion takes long enough to be interrupted.
    let h = 512
    let x = 9_000
    let source = folder.appendingPathComponent("big.rnn").path
    let model = try ElmanModel(
      W: Parameter([Float](repeating: 0.01, count: h * (h + x)), shape: [h, h + x]),
      b: Parameter([Float](repeating: 0, count: h), shape: [h]),
      V: Parameter([Float](repeating: 0.02, count: 2 * h), shape: [2, h]),
      c: Parameter([0, 0], shape: [2]), hiddenActivation: .tanh, outputActivation: .identity,
      inputKind: .dense)
    try model.write(to: source)

    // Kills that landed before the output was in place; at 5 ms even process start is not over.
    var interrupted = 0
    for (index, delay) in [0.005, 0.02, 0.05, 0.1, 0.2, 0.4].enumerated() {
      for (format, suffix) in [("rnn", "rnn"), ("hdf5", "h5"), ("safetensors", "safetensors")] {
        let output = folder.appendingPathComponent("out\(index).\(suffix)").path
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["convert", source, output, "--to", format, "--dtype", "f16"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        Thread.sleep(forTimeInterval: delay)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        if !FileManager.default.fileExists(atPath: output) { interrupted += 1 }
        if FileManager.default.fileExists(atPath: output) {
          let check = try CLI.run(["validate", output])
          #expect(check.status == 0, "a killed convert left an invalid \(output): \(check.stdout)")
        }
      }
    }
    #expect(interrupted > 0, "no kill interrupted a conversion, so the test proved nothing")
    // Whatever was killed left only hidden temporary files, never a visible partial output.
    let entries = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    let visible = entries.filter { !$0.hasPrefix(".") }
    #if os(Linux)
      // Every writer, HDF5 included, writes a file with no name (O_TMPFILE), so a kill leaves
      // nothing at all.
      let leftovers = entries.filter { $0.hasPrefix(".") }
      #expect(leftovers.isEmpty, "killed writes left \(leftovers)")
    #endif
    for name in visible where name != "big.rnn" {
      #expect(try CLI.run(["validate", folder.appendingPathComponent(name).path]).status == 0, "\(name)")
    }
  }
}
