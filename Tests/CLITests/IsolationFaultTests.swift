import Foundation
import RNNKit
import Testing

/// The isolated reader under faults: a killed parent takes its reader with it and leaves no
/// scratch file, file names are never parsed as flags, and the reader's memory is capped.
@Suite(.serialized) struct IsolationFaultTests {
  /// A plain HDF5 file of about 40 MB, so that reading it takes a moment.
  static func bigHDF5(in folder: URL) throws -> String {
    let h = 512
    let x = 9_000
    let model = try ElmanModel(
      W: Parameter([Float](repeating: 0.01, count: h * (h + x)), shape: [h, h + x]),
      b: Parameter([Float](repeating: 0, count: h), shape: [h]),
      V: Parameter([Float](repeating: 0.02, count: 2 * h), shape: [2, h]),
      c: Parameter([0, 0], shape: [2]), hiddenActivation: .tanh, outputActivation: .identity,
      inputKind: .dense)
    let path = folder.appendingPathComponent("big.h5").path
    try PlainHDF5Format().write(model, to: path, options: ExportOptions())
    return path
  }

  /// The processes whose parent is `pid`.
  static func children(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { candidate in
      guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return false }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      return fields.count > 2 && Int32(fields[1]) == pid
    }
  }

  static func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return false }
    // A zombie has exited; only its parent's wait is missing.
    return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
  }

  @Test func killingTheParentKillsTheReaderAndLeavesNoScratch() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = try Self.bigHDF5(in: folder)
    let scratch = folder.appendingPathComponent("tmp")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    var caught = 0
    for _ in 0..<5 where caught == 0 {
      let parent = Process()
      parent.executableURL = CLI.binary
      parent.arguments = ["inspect", input, "--stats"]
      var environment = ProcessInfo.processInfo.environment
      environment["TMPDIR"] = scratch.path
      parent.environment = environment
      parent.standardOutput = FileHandle.nullDevice
      parent.standardError = FileHandle.nullDevice
      try parent.run()
      var reader: Int32?
      let deadline = Date().addingTimeInterval(5)
      while reader == nil && Date() < deadline && parent.isRunning {
        reader = Self.children(of: parent.processIdentifier).first
        if reader == nil { usleep(500) }
      }
      kill(parent.processIdentifier, SIGKILL)
      parent.waitUntilExit()
      guard let reader else { continue }
      caught += 1
      let gone = Date().addingTimeInterval(5)
      while Self.isAlive(reader) && Date() < gone { usleep(10_000) }
      #expect(!Self.isAlive(reader), "the reader \(reader) outlived its killed parent")
    }
    #expect(caught > 0, "never saw the reader process, so the test proved nothing")
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
  }

  /// An HDF5 model on standard input is copied into a file without a name, which libhdf5 reads
  /// from memory: killing `rnnkit` with SIGKILL, while it still reads its input or while its
  /// reader runs, leaves nothing in the temporary folder and no reader behind.
  @Test func killingTheParentReadingStandardInputLeavesNoCopy() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = try Self.bigHDF5(in: folder)
    let scratch = folder.appendingPathComponent("tmp")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    var environment = ProcessInfo.processInfo.environment
    environment["TMPDIR"] = scratch.path
    func start(_ stdin: Any) throws -> Process {
      let parent = Process()
      parent.executableURL = CLI.binary
      parent.arguments = ["inspect", "-", "--stats"]
      parent.environment = environment
      parent.standardInput = stdin
      parent.standardOutput = FileHandle.nullDevice
      parent.standardError = FileHandle.nullDevice
      try parent.run()
      return parent
    }
    func leftovers() throws -> [String] {
      try FileManager.default.subpathsOfDirectory(atPath: scratch.path)
    }

    // Killed before the end of its input: half the file written, the pipe still open.
    let pipe = Pipe()
    let early = try start(pipe)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: input))
    try pipe.fileHandleForWriting.write(contentsOf: bytes.prefix(bytes.count / 2))
    usleep(100_000)
    #expect(early.isRunning, "rnnkit ended before the end of its input")
    kill(early.processIdentifier, SIGKILL)
    early.waitUntilExit()
    try? pipe.fileHandleForWriting.close()
    #expect(try leftovers() == [], "a killed read of standard input left files behind")

    // Killed while its isolated reader reads the copy.
    var caught = 0
    for _ in 0..<5 where caught == 0 {
      let file = try #require(FileHandle(forReadingAtPath: input))
      defer { try? file.close() }
      let parent = try start(file)
      var reader: Int32?
      let deadline = Date().addingTimeInterval(10)
      while reader == nil && Date() < deadline && parent.isRunning {
        reader = Self.children(of: parent.processIdentifier).first
        if reader == nil { usleep(500) }
      }
      kill(parent.processIdentifier, SIGKILL)
      parent.waitUntilExit()
      guard let reader else { continue }
      caught += 1
      let gone = Date().addingTimeInterval(5)
      while Self.isAlive(reader) && Date() < gone { usleep(10_000) }
      #expect(!Self.isAlive(reader), "the reader \(reader) outlived its killed parent")
    }
    #expect(caught > 0, "never saw the reader process, so the test proved nothing")
    #expect(try leftovers() == [], "a killed read of standard input left files behind")
  }

  @Test func fileNamesStartingWithADashAreFileNames() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("-x.h5").path
    try FileManager.default.copyItem(atPath: CLI.fixture("cuisine.h5"), toPath: path)
    let result = try CLI.run(["inspect", "--", path])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("hdf5"))
  }

  @Test func theReadersMemoryIsCapped() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let input = try Self.bigHDF5(in: folder)
    // 40 MB of weights cannot be read within 16 MiB of address space; the default allows it.
    #expect(throws: (any Error).self) {
      _ = try ModelFormats.read(path: input, isolation: IsolationPolicy(addressSpaceLimit: 16 << 20))
    }
    let model = try ModelFormats.read(path: input)
    #expect(model.hiddenSize == 512)
  }
}
