import Foundation
import Testing

/// libhdf5 crashes on some damaged files; `rnnkit` reads HDF5 in a child process so that such a
/// crash is reported as an error instead.
@Suite struct IsolationTests {
  static let crasher = CLI.fixture("hostile/libhdf5-segfault.h5")

  @Test(arguments: [["validate"], ["inspect"], ["inspect", "--stats"], ["forward", "--ids", "1,2"]])
  func aLibHDF5CrashBecomesAOneLineError(command: [String]) throws {
    let arguments = [command[0], Self.crasher] + command.dropFirst()
    let result = try CLI.run(arguments)
    #expect(result.status == 1, "\(arguments): \(result.stderr)")
    let message = (result.stdout + result.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(message.split(separator: "\n").count == 1, "\(message)")
    #expect(message.contains("\(Self.crasher): the reader crashed (signal 11)"), "\(message)")
  }

  /// libhdf5 finds its signature behind a user block of any power of two, and zip readers find an
  /// archive behind junk: neither may slip past the isolation.
  @Test(arguments: [4096, 65_536])
  func aCrasherBehindAUserBlockIsStillIsolated(userBlock: Int) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("hidden.bin").path
    let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.crasher))
    try (Data(count: userBlock) + bytes).write(to: URL(fileURLWithPath: path))
    for command in [["inspect"], ["validate"], ["predict"], ["convert"]] {
      var arguments = [command[0], path]
      if command[0] == "predict" { arguments.append("hello") }
      if command[0] == "convert" { arguments.append(folder.appendingPathComponent("out.rnn").path) }
      let result = try CLI.run(arguments)
      let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
      #expect(result.status == 1, "\(arguments): \(message)")
      #expect(message.split(separator: "\n").count == 1, "\(message)")
      #expect(message.contains("the reader crashed"), "\(arguments): \(message)")
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["hidden.bin"])
  }

  @Test func trainingFromACrasherIsIsolated() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let corpus = folder.appendingPathComponent("corpus.txt").path
    try "a b c\nb c a\n".write(toFile: corpus, atomically: true, encoding: .utf8)
    let output = folder.appendingPathComponent("m.rnn").path
    let result = try CLI.run(["train", corpus, "--output", output, "--start-from", Self.crasher])
    #expect(result.status == 1, "\(result.stderr)")
    #expect(result.stderr.contains("the reader crashed"), "\(result.stderr)")
  }

  @Test func convertLeavesNothingBehindWhenTheReaderCrashes() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.rnn").path
    let result = try CLI.run(["convert", Self.crasher, output])
    #expect(result.status == 1)
    #expect(result.stderr.contains("the reader crashed"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
  }

  @Test func theFileReallyCrashesLibHDF5InProcess() throws {
    // Proves the fixture still exercises the isolation: read in-process, the library dies.
    let result = try CLI.run(["validate", Self.crasher, "--trust-input"])
    #expect(result.status != 0 && result.status != 1, "status \(result.status)")
  }

  @Test func goodHDF5FilesReadTheSameIsolatedOrNot() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let h5 = folder.appendingPathComponent("golden.h5").path
    #expect(try CLI.run(["convert", CLI.fixture("token-f32.rnn"), h5]).status == 0)
    let isolated = try CLI.run(["inspect", h5, "--json"])
    let direct = try CLI.run(["inspect", h5, "--json", "--trust-input"])
    #expect(isolated.status == 0 && direct.status == 0)
    #expect(isolated.stdout == direct.stdout)
    #expect(isolated.stdout.contains("\"format\": \"hdf5\""))
  }
}
