import Foundation
import Testing

/// Writing on a full disk: every writer fails with exit 1 and one line naming the file and the
/// system's reason, leaves nothing behind and ends without a signal. (libhdf5 1.10 used to crash at
/// exit after a failed write: the file it could not close was freed a second time.) The disk is
/// made full with RLIMIT_FSIZE in the child (scripts/hostile/fsize_limit.py), so no privileges
/// are needed.
@Suite struct FullDiskTests {
  struct Run {
    var status: Int
    var stderr: String
  }

  func run(limit: Int, _ arguments: [String]) throws -> Run {
    let output = try Python.run("hostile/fsize_limit.py", ["\(limit)", CLI.binary.path] + arguments)
    let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
    return Run(status: json["status"] as! Int, stderr: json["stderr"] as! String)
  }

  @Test(arguments: ["hdf5", "keras-h5", "keras-weights", "keras", "safetensors", "rnn"])
  func everyWriterFailsCleanly(format: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = CLI.fixture("cuisine.rnn")
    let output = folder.appendingPathComponent("out.\(format)").path
    // The size the output needs, measured without a limit.
    #expect(try CLI.run(["convert", source, output, "--to", format]).status == 0)
    let size = try FileManager.default.attributesOfItem(atPath: output)[.size] as! Int
    try FileManager.default.removeItem(atPath: output)
    // Limits from nothing at all to one byte short, so the failure comes at every stage: the
    // first write, the middle of the data, the very end.
    for limit in [0, 1, 100, 4096, size / 3, size / 2, size - 100, size - 1] {
      let result = try run(limit: limit, ["convert", source, output, "--to", format])
      let message = result.stderr.trimmingCharacters(in: .newlines)
      #expect(result.status == 1, "limit \(limit): status \(result.status): \(message)")
      #expect(!message.contains("\n"), "limit \(limit): \(message)")
      #expect(message.hasPrefix("Error: \(folder.path)/"), "limit \(limit): \(message)")
      #expect(message.hasSuffix("File too large (errno 27)"), "limit \(limit): \(message)")
      #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "limit \(limit)")
    }
    // With room for it the same conversion succeeds, so the limit was what failed.
    #expect(try run(limit: size + (1 << 20), ["convert", source, output, "--to", format]).status == 0)
  }
}
