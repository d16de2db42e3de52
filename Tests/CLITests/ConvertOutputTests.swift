import Foundation
import Testing

/// What `rnnkit convert` writes over: only regular files, and its errors name the user's output.
@Suite struct ConvertOutputTests {
  let folder: URL
  init() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-output-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  /// The file type bits of what is at `path`, not following a link.
  func fileType(_ path: String) -> mode_t? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return info.st_mode & S_IFMT
  }

  /// Binds a Unix socket at `path` with Python, which stays there after the process ends.
  func makeSocket(_ path: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path,
    ]
    try process.run()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "python3 could not bind a socket")
  }

  /// One line on stderr that names `output` and no temporary file.
  func expectNamesOnlyTheOutput(_ result: CLI.Result, _ output: String, _ mention: String) {
    #expect(result.status != 0)
    #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    #expect(result.stderr.contains(output) && result.stderr.contains(mention), "\(result.stderr)")
    #expect(!result.stderr.contains(".tmp-") && !result.stderr.contains("/proc/self"), "\(result.stderr)")
  }

  @Test func neverReplacesALinkADeviceAFIFOOrASocketEvenWithForce() throws {
    defer { try? FileManager.default.removeItem(at: folder) }
    let target = path("target.rnn")
    try FileManager.default.copyItem(atPath: CLI.fixture("token-f32.rnn"), toPath: target)
    let before = try Data(contentsOf: URL(fileURLWithPath: target))
    try FileManager.default.createSymbolicLink(atPath: path("link.rnn"), withDestinationPath: target)
    try FileManager.default.createSymbolicLink(
      atPath: path("dangling.rnn"), withDestinationPath: path("none"))
    #expect(mkfifo(path("fifo.rnn"), 0o644) == 0)
    try makeSocket(path("socket.rnn"))
    let cases: [(String, String, mode_t)] = [
      (path("link.rnn"), "is a symbolic link", S_IFLNK),
      (path("dangling.rnn"), "is a symbolic link", S_IFLNK),
      (path("fifo.rnn"), "is a FIFO", S_IFIFO), (path("socket.rnn"), "is a socket", S_IFSOCK),
      ("/dev/null", "is a character device", S_IFCHR),
    ]
    for (output, mention, type) in cases {
      for force in [[], ["--force"]] {
        let result = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), output, "--to", "rnn"] + force)
        expectNamesOnlyTheOutput(result, output, mention)
        #expect(fileType(output) == type, "\(output) changed type")
      }
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == before)
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: path("link.rnn")) == target)
  }

  @Test func theOutputIsCheckedBeforeTheInputIsRead() throws {
    defer { try? FileManager.default.removeItem(at: folder) }
    #expect(mkfifo(path("fifo.rnn"), 0o644) == 0)
    // A missing input would be the error if the input were read first.
    let result = try CLI.run(["convert", path("missing.rnn"), path("fifo.rnn"), "--force"])
    expectNamesOnlyTheOutput(result, path("fifo.rnn"), "is a FIFO")
  }

  @Test(arguments: ["out.rnn", "out.h5", "out.weights.h5", "out.safetensors"])
  func aFailedWriteNamesTheOutputNotTheTemporaryFile(name: String) throws {
    defer { try? FileManager.default.removeItem(at: folder) }
    let output = path("missing-folder/" + name)
    let result = try CLI.run(["convert", CLI.fixture("token-f32.rnn"), output, "--verify", "--force"])
    expectNamesOnlyTheOutput(result, output, "does not exist")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
  }
}
