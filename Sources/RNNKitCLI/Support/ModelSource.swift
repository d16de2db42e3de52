import ArgumentParser
import Foundation
import RNNKit

/// Reads models for the commands. `.rnn` files are read in this process (their reader is ours and
/// fuzzed); HDF5 and Keras files are read by a child `rnnkit` process, because libhdf5 can crash or
/// hang on a damaged file and a crash there must become an error here, not take `rnnkit` down.
enum ModelSource {
  /// What a read produced: the model and the name of the format it was in.
  struct Loaded {
    var model: ElmanModel
    var format: String
  }

  static let hdf5FormatNames: Set<String> = ["hdf5", "keras-h5", "keras-weights", "keras"]
  private static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
  private static let zipSignature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

  /// Reads `path` in `format` (nil: detect), isolating libhdf5 unless `isolate` is false.
  static func read(path: String, format: String?, options: ImportOptions, isolate: Bool) throws -> Loaded {
    if isolate, try needsIsolation(path: path, format: format) {
      return try readInChild(path: path, format: format, options: options)
    }
    let chosen = try format.map(ModelFormats.named) ?? ModelFormats.detect(path: path)
    return Loaded(model: try chosen.read(path: path, options: options), format: chosen.name)
  }

  /// Whether `path` is an `.rnn` file (or `format` says so), decided without touching libhdf5, so
  /// `inspect` and `validate` can show the container itself.
  static func isNativeRNN(path: String, format: String?) throws -> Bool {
    if let format { return format == "rnn" }
    return try !needsIsolation(path: path, format: nil) && ModelFormats.detect(path: path) is RNNFileFormat
  }

  /// Whether reading `path` would go through libhdf5: decided from the name given with `--from`, or
  /// from the first bytes, which this process reads without libhdf5.
  static func needsIsolation(path: String, format: String?) throws -> Bool {
    if let format { return hdf5FormatNames.contains(format) }
    let prefix: [UInt8]
    do {
      let storage = try ByteStorage(mapping: path)
      prefix = Array(storage.bytes.prefix(4096))
    } catch {
      throw FormatSelectionError.unreadable(path: path, reason: error.description)
    }
    if prefix.starts(with: zipSignature) { return true }
    // HDF5 allows a user block of 512, 1024, 2048 … bytes before the signature.
    var offset = 0
    while offset + hdf5Signature.count <= prefix.count {
      if prefix[offset..<(offset + hdf5Signature.count)].elementsEqual(hdf5Signature) { return true }
      offset = offset == 0 ? 512 : offset * 2
    }
    return false
  }

  /// Runs `rnnkit read-isolated`, which converts the file to a scratch `.rnn`, then maps that.
  private static func readInChild(path: String, format: String?, options: ImportOptions) throws -> Loaded {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-read-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(at: folder) }
    let scratch = folder.appendingPathComponent("model.rnn").path

    var arguments = ["read-isolated", path, scratch]
    if let format { arguments += ["--from", format] }
    if let vocabulary = options.vocabularyPath { arguments += ["--vocab", vocabulary] }
    if let f = options.hiddenActivation { arguments += ["--hidden-activation", f.rawValue] }
    if let g = options.outputActivation { arguments += ["--output-activation", g.rawValue] }

    let child = try runChild(arguments, reading: path)
    guard child.status == 0 else {
      // The child printed the one-line error already formatted for the user.
      let line = child.stderr.split(separator: "\n").last.map(String.init) ?? "reading failed"
      throw CLIError(line.hasPrefix("Error: ") ? String(line.dropFirst(7)) : line)
    }
    let model = try ElmanModel.load(path: scratch)
    return Loaded(model: model, format: child.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// How a child `rnnkit` ended, when it ended by itself.
  struct ChildResult {
    var processID: Int32
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs `rnnkit arguments…` as a child that reads `path` with libhdf5. A crash or a hang of the
  /// child becomes a one-line error naming `path`; `cleanUp` runs first with the child's process id,
  /// so the caller can remove what the child may have left half-written.
  static func runChild(_ arguments: [String], reading path: String, cleanUp: (Int32) -> Void = { _ in })
    throws -> ChildResult
  {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executablePath())
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    try process.run()
    // Drain both pipes on other threads, so a chatty child cannot block on a full pipe.
    let outData = Drain(out.fileHandleForReading)
    let errData = Drain(err.fileHandleForReading)

    let seconds = timeLimit(path: path)
    if finished.wait(timeout: .now() + .seconds(seconds)) == .timedOut {
      kill(process.processIdentifier, SIGKILL)
      finished.wait()
      cleanUp(process.processIdentifier)
      throw CLIError(
        "\(path): libhdf5 did not finish reading this file within \(seconds) s; the file is damaged or crafted to hang readers"
      )
    }
    switch process.terminationReason {
    case .exit:
      return ChildResult(
        processID: process.processIdentifier, status: process.terminationStatus, stdout: outData.text(),
        stderr: errData.text())
    case .uncaughtSignal:
      cleanUp(process.processIdentifier)
      throw CLIError(
        "\(path): libhdf5 crashed (signal \(process.terminationStatus)) while reading this file; the file is damaged or crafted to crash readers"
      )
    @unknown default:
      cleanUp(process.processIdentifier)
      throw CLIError("\(path): the reader process ended unexpectedly")
    }
  }

  /// Generous enough for a slow disk (10 MB/s) and never under a minute; `RNNKIT_READ_TIMEOUT`
  /// (seconds) overrides it.
  private static func timeLimit(path: String) -> Int {
    if let text = ProcessInfo.processInfo.environment["RNNKIT_READ_TIMEOUT"], let seconds = Int(text),
      seconds > 0
    {
      return seconds
    }
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    return max(60, size / 10_000_000)
  }

  private static func executablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
  }

  /// Reads a pipe to its end on a background thread.
  private final class Drain: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
      Thread.detachNewThread { [self] in
        data = handle.readDataToEndOfFile()
        done.signal()
      }
    }

    func text() -> String {
      done.wait()
      return String(decoding: data, as: UTF8.self)
    }
  }
}

/// The child side of ``ModelSource``: reads any format and writes a scratch `.rnn`. Not for users.
struct ReadIsolated: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "read-isolated", abstract: "Internal: read a model in a child process.", shouldDisplay: false
  )

  @Argument var input: String
  @Argument var output: String
  @OptionGroup var options: ModelInputOptions

  func run() throws {
    let loaded = try ModelSource.read(
      path: input, format: options.format, options: options.importOptions(), isolate: false)
    try loaded.model.write(to: output, durable: false)
    print(loaded.format)
  }
}
