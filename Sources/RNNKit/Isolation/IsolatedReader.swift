import Foundation
import RNNFileFormats
import RNNFormat
import RNNModel

/// How a read treats its input. The default isolates every format whose reader is a C library
/// RNNKit does not own (`ReadIsolation.childProcess`), and every file that RNNKit's own readers
/// do not positively recognise.
public struct IsolationPolicy: Sendable {
  /// Read in a child process where the format asks for it. False trusts the input: everything is
  /// read in this process, faster, but a libhdf5 crash then takes the caller down.
  public var isolate: Bool
  /// How long the child may take, in seconds; nil allows a minute, or longer for big files
  /// (10 MB/s). The environment variable `RNNKIT_READ_TIMEOUT` overrides the default.
  public var timeLimit: Int?
  /// The child's address-space limit in bytes; nil allows 2 GiB plus four times the file size.
  public var addressSpaceLimit: Int?
  /// The `rnnkit` executable that serves isolated reads; nil looks at `RNNKIT_EXECUTABLE`, then
  /// at the running program if it is `rnnkit`, then beside it.
  public var executable: String?

  /// Creates a policy; the defaults isolate.
  public init(
    isolate: Bool = true, timeLimit: Int? = nil, addressSpaceLimit: Int? = nil, executable: String? = nil
  ) {
    self.isolate = isolate
    self.timeLimit = timeLimit
    self.addressSpaceLimit = addressSpaceLimit
    self.executable = executable
  }

  /// Reads everything in this process.
  public static let trusted = IsolationPolicy(isolate: false)
}

/// Why an isolated read failed, when the reader itself did not report the reason.
public enum IsolationError: Error, Sendable, CustomStringConvertible {
  /// The reader process ended with a signal: the file crashed it, or it ran out of its memory.
  case crashed(path: String, signal: Int32, addressSpaceLimit: Int)
  /// The reader process did not finish in time and was killed.
  case timedOut(path: String, seconds: Int)
  /// No `rnnkit` executable could be found to read in isolation.
  case readerUnavailable(String)
  /// The reader broke the protocol between the two processes.
  case protocolViolation(String)
  /// A system call failed.
  case system(operation: String, message: String)

  public var description: String {
    switch self {
    case .crashed(let path, let signal, let limit):
      return
        "\(displaySafe(path)): the reader crashed (signal \(signal)) on this file, or needed more than its \(limit >> 20) MiB memory limit; the file is damaged or crafted to crash readers"
    case .timedOut(let path, let seconds):
      return
        "\(displaySafe(path)): the reader did not finish within \(seconds) s; the file is damaged or crafted to hang readers"
    case .readerUnavailable(let reason): return "cannot read in isolation: \(reason)"
    case .protocolViolation(let reason): return "the isolated reader failed: \(displaySafe(reason))"
    case .system(let operation, let message): return "\(operation) failed: \(message)"
    }
  }
}

/// An error the isolated reader reported, relayed with its structure (what input it asks for) and
/// its message escaped again, since a compromised reader could send anything.
public struct RelayedReadError: Error, Sendable, Codable, CustomStringConvertible, ModelInputRequest {
  /// The reader's one-line message.
  public var message: String
  /// What the caller can supply to get past the error, if anything.
  public var requestedInput: ModelInput?
  /// The comparison that failed, when the error is a conversion's failed verification: the parent
  /// raises it again as ``ConversionError/verificationFailed(output:report:)`` for its own output.
  public var failedVerification: VerificationReport?

  public var description: String { displaySafe(message) }
}

/// Reads a model in a child `rnnkit` process with a time and memory limit. The child maps
/// nothing back into this process but an anonymous file holding the model as `.rnn`, which this
/// process checks with its own reader; a crash, a hang or an exhausted limit there becomes an
/// error here, and the child dies when this process does. A conversion whose input must be
/// isolated runs wholly in the child, which writes the output itself: the model then crosses no
/// process boundary at all.
enum IsolatedReader {
  /// What the child is asked to do.
  enum Job: Codable {
    /// Read `path` and hand the model back as `.rnn` bytes on descriptor 3.
    case read(path: String, format: String?, options: ImportOptions)
    /// Convert `input` to `output` in the child, input trusted there.
    case convert(input: String, output: String, request: ConversionRequest)
  }

  /// The request, one JSON line on the child's standard input, which then stays open as its
  /// lifeline.
  struct Request: Codable {
    var job: Job
    var addressSpaceLimit: Int
  }

  /// The reply, as JSON on descriptor 4.
  struct Reply: Codable {
    var format: String?
    var conversion: ConversionReport?
    var error: RelayedReadError?
  }

  /// The subcommand of `rnnkit` that runs ``serve()``.
  static let subcommand = "read-isolated"
  static let requestLimit = 64 << 20
  static let replyLimit = 1 << 20

  static func read(path: String, format: String?, options: ImportOptions, policy: IsolationPolicy) throws
    -> LoadedModel
  {
    let model = try ProcessCalls.anonymousFile()
    defer { ProcessCalls.close(model) }
    let answer = try run(
      .read(path: path, format: format, options: options), file: path, model: model, policy: policy)
    guard let name = answer.format, let chosen = try? ModelFormats.named(name) else {
      throw IsolationError.protocolViolation("\(path): the reply names no known format")
    }
    // The child's bytes go through the same reader as any .rnn file.
    let storage = try ByteStorage(mappingDescriptor: model)
    let container = try Container(storage: storage, options: ReadOptions(verifyChecksums: false))
    var loaded = try ElmanModel(container: container)
    loaded.provenance.sourceFormat = chosen.name
    return LoadedModel(model: loaded, format: chosen)
  }

  static func convert(input: String, output: String, request: ConversionRequest, policy: IsolationPolicy)
    throws
    -> ConversionReport
  {
    let answer: Reply
    do {
      answer = try run(
        .convert(input: input, output: output, request: request), file: input, model: nil, policy: policy)
    } catch let error as RelayedReadError {
      guard let report = error.failedVerification else { throw error }
      throw ConversionError.verificationFailed(output: output, report: report)
    }
    guard let report = answer.conversion else {
      throw IsolationError.protocolViolation("\(input): the reply holds no conversion report")
    }
    return report
  }

  /// Runs `job` in a child and returns its successful reply; `model`, when given, becomes the
  /// child's descriptor 3.
  static func run(_ job: Job, file: String, model: Int32?, policy: IsolationPolicy) throws -> Reply {
    let executable = try locateExecutable(policy)
    let size = ProcessCalls.fileSize(file)
    let addressSpace = policy.addressSpaceLimit ?? (2 << 30) + 4 * size
    let seconds = policy.timeLimit ?? defaultTimeLimit(size: size)
    let request = try JSONEncoder().encode(Request(job: job, addressSpaceLimit: addressSpace))

    let input = try ProcessCalls.socketPair()
    let reply = try ProcessCalls.pipe()
    let diagnostics = try ProcessCalls.pipe()
    var environment = ProcessInfo.processInfo.environment
    environment["SWIFT_BACKTRACE"] = "enable=no"
    let pid: Int32
    do {
      pid = try ProcessCalls.spawn(
        [executable, subcommand], environment: environment,
        descriptors: [
          input.child, diagnostics.write, diagnostics.write, model ?? diagnostics.write, reply.write,
        ])
    } catch {
      for fd in [input.child, input.parent, reply.read, reply.write, diagnostics.read, diagnostics.write] {
        ProcessCalls.close(fd)
      }
      throw error
    }
    for fd in [input.child, reply.write, diagnostics.write] { ProcessCalls.close(fd) }
    let replyBytes = ProcessCalls.Drain(reply.read, limit: replyLimit)
    // libhdf5 may print; keep it from blocking the child, and drop it.
    let printed = ProcessCalls.Drain(diagnostics.read, limit: 1 << 16)
    defer {
      ProcessCalls.close(reply.read)
      ProcessCalls.close(diagnostics.read)
    }
    // A child that died early is reported by its status below, not by a failed send.
    try? ProcessCalls.send(input.parent, Array(request) + [UInt8(ascii: "\n")])
    let status = ProcessCalls.wait(pid, seconds: seconds)
    ProcessCalls.close(input.parent)
    _ = printed.bytes()
    guard let status else { throw IsolationError.timedOut(path: file, seconds: seconds) }
    let signal = status & 0x7f
    if signal != 0 {
      throw IsolationError.crashed(path: file, signal: signal, addressSpaceLimit: addressSpace)
    }
    guard let answer = try? JSONDecoder().decode(Reply.self, from: Data(replyBytes.bytes())) else {
      throw IsolationError.protocolViolation("\(file): no reply (exit status \((status >> 8) & 0xff))")
    }
    if let error = answer.error { throw error }
    return answer
  }

  /// The child side: reads the request on standard input, does the job, and writes the reply onto
  /// descriptor 4 (and, for a read, the model onto descriptor 3). Returns the exit status.
  static func serve() -> Int32 {
    let request: Request
    do {
      let line = try ProcessCalls.readLine(0, limit: requestLimit)
      request = try JSONDecoder().decode(Request.self, from: Data(line))
    } catch {
      return 64
    }
    ProcessCalls.exitWhenClosed(0)
    var reply = Reply()
    do {
      try ProcessCalls.limitAddressSpace(request.addressSpaceLimit)
      switch request.job {
      case .read(let path, let format, let options):
        let loaded = try ModelFormats.load(path: path, format: format, options: options, isolation: .trusted)
        try loaded.model.write(toDescriptor: 3)
        reply.format = loaded.format.name
      case .convert(let input, let output, let conversion):
        reply.conversion = try ModelConversion.convert(
          input: input, output: output, options: conversion.options(isolation: .trusted))
      }
    } catch {
      var failedVerification: VerificationReport?
      if case .verificationFailed(_, let report) = error as? ConversionError { failedVerification = report }
      reply.error = RelayedReadError(
        message: "\(error)", requestedInput: (error as? any ModelInputRequest)?.requestedInput,
        failedVerification: failedVerification)
    }
    let bytes = (try? JSONEncoder().encode(reply)) ?? Data()
    try? ProcessCalls.writeAll(4, Array(bytes))
    return reply.error == nil ? 0 : 1
  }

  static func locateExecutable(_ policy: IsolationPolicy) throws(IsolationError) -> String {
    let fromEnvironment = ProcessInfo.processInfo.environment["RNNKIT_EXECUTABLE"].flatMap {
      $0.isEmpty ? nil : $0
    }
    if let path = policy.executable ?? fromEnvironment {
      guard ProcessCalls.isExecutable(path) else {
        throw .readerUnavailable("\(path) is not an executable")
      }
      return path
    }
    guard let current = ProcessCalls.executablePath else {
      throw .readerUnavailable("the running program's path is unknown; set RNNKIT_EXECUTABLE")
    }
    if current.hasSuffix("/rnnkit") { return current }
    let beside = URL(fileURLWithPath: current).deletingLastPathComponent().appendingPathComponent("rnnkit")
      .path
    guard ProcessCalls.isExecutable(beside) else {
      throw .readerUnavailable(
        "no rnnkit executable beside \(current); build the rnnkit product or set RNNKIT_EXECUTABLE")
    }
    return beside
  }

  static func defaultTimeLimit(size: Int) -> Int {
    if let text = ProcessInfo.processInfo.environment["RNNKIT_READ_TIMEOUT"], let seconds = Int(text),
      seconds > 0
    {
      return seconds
    }
    return max(60, size / 10_000_000)
  }
}

/// A model and the format it was read from.
public struct LoadedModel: Sendable {
  /// The model.
  public var model: ElmanModel
  /// The format of the file it came from.
  public var format: any ModelFileFormat
}

extension ModelFormats {
  /// Reads the model at `path` in `format` (nil: detect), safely by default: formats whose reader
  /// is a C library, and files RNNKit's own readers do not recognise, are read in an isolated
  /// child process (``IsolationPolicy``).
  public static func load(
    path: String, format: String? = nil, options: ImportOptions = ImportOptions(),
    isolation: IsolationPolicy = IsolationPolicy()
  ) throws -> LoadedModel {
    guard let chosen = try formatInProcess(path: path, format: format, isolation: isolation) else {
      var loaded = try IsolatedReader.read(path: path, format: format, options: options, policy: isolation)
      loaded.model = options.applyingTokenizerSettings(to: loaded.model)
      return loaded
    }
    let model = try chosen.read(path: path, options: options)
    return LoadedModel(model: options.applyingTokenizerSettings(to: model), format: chosen)
  }

  /// The format to read `path` with in this process, or nil when, under `isolation`, the read must
  /// happen in an isolated child: a C-library format, or content no in-process format recognises.
  static func formatInProcess(path: String, format: String?, isolation: IsolationPolicy) throws
    -> (any ModelFileFormat)?
  {
    if let format {
      let named = try named(format)
      guard named.isReadable else {
        throw FormatSelectionError.unsupported(format: named.name, operation: "read")
      }
      return named.readIsolation == .inProcess || !isolation.isolate ? named : nil
    }
    if let recognised = try detectInProcess(path: path) { return recognised }
    return isolation.isolate ? nil : try detect(path: path)
  }

  /// Reads the model at `path`; see ``load(path:format:options:isolation:)``.
  public static func read(
    path: String, format: String? = nil, options: ImportOptions = ImportOptions(),
    isolation: IsolationPolicy = IsolationPolicy()
  ) throws -> ElmanModel {
    try load(path: path, format: format, options: options, isolation: isolation).model
  }

  /// Serves one isolated read in this process, which must be a child started by RNNKit (the
  /// `rnnkit` executable's hidden `read-isolated` subcommand calls this). Returns the exit status.
  public static func serveIsolatedRead() -> Int32 {
    IsolatedReader.serve()
  }
}
