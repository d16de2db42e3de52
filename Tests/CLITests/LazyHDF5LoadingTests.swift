import Foundation
import Testing

/// libhdf5 pulls in dozens of libraries (curl, gnutls, krb5, ...), so RNNKit loads it with dlopen
/// only when an HDF5 or Keras file is read or written. These tests watch a fresh `rnnkit` process
/// with glibc's loader tracing (`LD_DEBUG=libs` reports every library it initialises, on stderr).
@Suite struct LazyHDF5LoadingTests {
  /// Whether the loader's trace in `stderr` shows libhdf5 being initialised.
  static func initialisedLibHDF5(_ stderr: String) -> Bool {
    stderr.split(separator: "\n").contains { $0.contains("calling init:") && $0.contains("/libhdf5") }
  }

  static func traced(_ arguments: [String]) throws -> CLI.Result {
    try CLI.run(arguments, environment: ["LD_DEBUG": "libs"])
  }

  @Test(arguments: [
    ["--version"],
    ["inspect", CLI.fixture("cuisine.rnn")],
    ["score", CLI.fixture("cuisine.rnn"), CLI.fixture("corpus/cuisine.txt"), "--json"],
  ])
  func commandsWithoutHDF5DoNotLoadIt(_ arguments: [String]) throws {
    let result = try Self.traced(arguments)
    #expect(result.status == 0, "\(result.stderr.suffix(2000))")
    #expect(
      result.stderr.contains("calling init:"), "the loader trace is missing, so the check proves nothing")
    #expect(
      !Self.initialisedLibHDF5(result.stderr), "rnnkit \(arguments.joined(separator: " ")) loaded libhdf5")
  }

  /// The probe sees libhdf5 when a command reads HDF5 in this process.
  @Test func readingHDF5InProcessLoadsIt() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("m.rnn").path
    let result = try Self.traced(["convert", CLI.fixture("cuisine.h5"), output, "--trust-input"])
    #expect(result.status == 0, "\(result.stderr.suffix(2000))")
    let loaded = Self.initialisedLibHDF5(result.stderr)
    #expect(loaded, "the loader trace shows no libhdf5")
  }

  /// The default conversion parses HDF5 in an isolated child: the child loads libhdf5, the parent,
  /// which only writes the .rnn file, does not.
  @Test func isolatedConversionLoadsItOnlyInTheChild() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("m.rnn").path
    let result = try Self.traced(["convert", CLI.fixture("cuisine.h5"), output])
    #expect(result.status == 0, "\(result.stderr.suffix(2000))")
    #expect(FileManager.default.fileExists(atPath: output))
    let pids = Set(
      result.stderr.split(separator: "\n").compactMap { line in
        line.contains("/libhdf5") && line.contains("calling init:")
          ? line.split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) } : nil
      })
    let parent = result.stderr.split(separator: "\n").first.flatMap {
      $0.split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) }
    }
    #expect(parent.map { !pids.contains($0) } ?? false, "the parent process loaded libhdf5")
  }
}
