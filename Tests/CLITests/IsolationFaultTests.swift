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

  /// A big HDF5 file and an empty folder for the temporary files of the processes under test.
  static func bigHDF5AndScratch(in folder: URL) throws -> (input: String, scratch: URL) {
    let scratch = folder.appendingPathComponent("tmp")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    return (try bigHDF5(in: folder), scratch)
  }

  /// Starts `rnnkit arguments…` with `scratch` as its temporary folder and `stdin` (none when nil).
  static func start(_ arguments: [String], scratch: URL, stdin: Any? = nil) throws -> Process {
    let parent = Process()
    parent.executableURL = CLI.binary
    parent.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["TMPDIR"] = scratch.path
    parent.environment = environment
    if let stdin { parent.standardInput = stdin }
    parent.standardOutput = FileHandle.nullDevice
    parent.standardError = FileHandle.nullDevice
    try parent.run()
    return parent
  }

  /// Starts a parent with `start` until its isolated reader shows (five tries at most), kills the
  /// parent with SIGKILL as soon as it does, and expects the reader to exit within 5 s.
  static func killParentWhileItsReaderRuns(_ start: () throws -> Process) throws {
    var caught = 0
    for _ in 0..<5 where caught == 0 {
      let parent = try start()
      var reader: Int32?
      let deadline = Date().addingTimeInterval(10)
      while reader == nil && Date() < deadline && parent.isRunning {
        reader = children(of: parent.processIdentifier).first
        if reader == nil { usleep(500) }
      }
      kill(parent.processIdentifier, SIGKILL)
      parent.waitUntilExit()
      guard let reader else { continue }
      caught += 1
      let gone = Date().addingTimeInterval(5)
      while isAlive(reader) && Date() < gone { usleep(10_000) }
      #expect(!isAlive(reader), "the reader \(reader) outlived its killed parent")
    }
    #expect(caught > 0, "never saw the reader process, so the test proved nothing")
  }

  @Test func killingTheParentKillsTheReaderAndLeavesNoScratch() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (input, scratch) = try Self.bigHDF5AndScratch(in: folder)
    try Self.killParentWhileItsReaderRuns { try Self.start(["inspect", input, "--stats"], scratch: scratch) }
    #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
  }

  /// An HDF5 model on standard input is copied into a file without a name, which libhdf5 reads
  /// from memory: killing `rnnkit` with SIGKILL, while it still reads its input or while its
  /// reader runs, leaves nothing in the temporary folder and no reader behind.
  @Test func killingTheParentReadingStandardInputLeavesNoCopy() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (input, scratch) = try Self.bigHDF5AndScratch(in: folder)
    let arguments = ["inspect", "-", "--stats"]

    // Killed before the end of its input: half the file written, the pipe still open.
    let pipe = Pipe()
    let early = try Self.start(arguments, scratch: scratch, stdin: pipe)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: input))
    try pipe.fileHandleForWriting.write(contentsOf: bytes.prefix(bytes.count / 2))
    usleep(100_000)
    #expect(early.isRunning, "rnnkit ended before the end of its input")
    kill(early.processIdentifier, SIGKILL)
    early.waitUntilExit()
    try? pipe.fileHandleForWriting.close()
    #expect(try FileManager.default.subpathsOfDirectory(atPath: scratch.path) == [])

    // Killed while its isolated reader reads the copy.
    var files: [FileHandle] = []
    defer { for file in files { try? file.close() } }
    try Self.killParentWhileItsReaderRuns {
      let file = try #require(FileHandle(forReadingAtPath: input))
      files.append(file)
      return try Self.start(arguments, scratch: scratch, stdin: file)
    }
    #expect(try FileManager.default.subpathsOfDirectory(atPath: scratch.path) == [])
  }

  /// A model written to standard output is written to a file without a name first: killing
  /// `rnnkit` with SIGKILL while it copies that file to a pipe nobody reads leaves nothing in the
  /// temporary folder.
  @Test func killingAConversionToStandardOutputLeavesNoFile() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (input, scratch) = try Self.bigHDF5AndScratch(in: folder)
    let output = Pipe()
    let parent = Process()
    parent.executableURL = CLI.binary
    parent.arguments = ["convert", input, "-", "--to", "rnn"]
    var environment = ProcessInfo.processInfo.environment
    environment["TMPDIR"] = scratch.path
    parent.environment = environment
    parent.standardOutput = output
    parent.standardError = FileHandle.nullDevice
    try parent.run()
    // The first byte means the model is written and being copied; the pipe then fills (the
    // model is about 40 MB) and the copy blocks until the kill.
    let first = try output.fileHandleForReading.read(upToCount: 1)
    #expect(first?.count == 1, "rnnkit wrote nothing to standard output")
    #expect(parent.isRunning, "rnnkit finished the copy before it could be killed")
    kill(parent.processIdentifier, SIGKILL)
    parent.waitUntilExit()
    #expect(try FileManager.default.subpathsOfDirectory(atPath: scratch.path) == [])
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
