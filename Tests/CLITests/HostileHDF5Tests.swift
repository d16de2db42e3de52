import Foundation
import Testing

/// Hostile HDF5 and Keras files end to end: `rnnkit` exits 1 with one line naming the file, the
/// object and the reason, and writes nothing.
@Suite struct HostileHDF5Tests {
  let folder: URL
  init() throws { folder = try CLI.temporaryFolder() }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  /// Runs `rnnkit arguments…` and checks it failed with exactly one line containing `expected`.
  func expectOneLineError(_ arguments: [String], _ expected: String) throws {
    let result = try CLI.run(arguments)
    let message = result.stderr.trimmingCharacters(in: .newlines)
    #expect(result.status == 1, "\(arguments): \(result.stderr)")
    #expect(!message.contains("\n"), "\(message)")
    #expect(message.contains(expected), "\(message)")
    #expect(!message.contains(where: { $0.isASCII && $0.asciiValue! < 0x20 }), "\(message)")
  }

  @Test func convertRefusesDataInOtherFiles() throws {
    let raw = path("canary.bin")
    try Python.run("hostile/hdf5_tamper.py", ["canary", path("canary.h5"), raw, "4x12"])
    let h5 = path("storage.h5")
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), h5]).status == 0)
    try Python.run("hostile/hdf5_tamper.py", ["external-storage", h5, "W", raw])
    let output = path("out.rnn")
    try expectOneLineError(
      ["convert", h5, output],
      "\(h5): /W stores its data in the external file \"\(raw)\"; data outside the given file is not read")
    try expectOneLineError(["convert", h5, output, "--trust-input"], "\(h5): /W stores its data")
    #expect(!FileManager.default.fileExists(atPath: output))

    let link = path("link.h5")
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), link]).status == 0)
    try Python.run("hostile/hdf5_tamper.py", ["external-link", link, "V", path("canary.h5")])
    try expectOneLineError(["inspect", link], "\(link): /V is an external link to file")
    #expect(!FileManager.default.fileExists(atPath: output))
  }
}
