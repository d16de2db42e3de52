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
    #expect(message.contains("\(Self.crasher): libhdf5 crashed (signal 11)"), "\(message)")
  }

  @Test func convertLeavesNothingBehindWhenTheReaderCrashes() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = folder.appendingPathComponent("out.rnn").path
    let result = try CLI.run(["convert", Self.crasher, output])
    #expect(result.status == 1)
    #expect(result.stderr.contains("libhdf5 crashed"))
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
