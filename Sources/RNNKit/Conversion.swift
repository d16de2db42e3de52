import Foundation
import RNNFileFormats
import RNNFormat
import RNNModel

/// How to convert a model.
public struct ConversionOptions: Sendable {
  /// The input format's name; nil detects it.
  public var inputFormat: String?
  /// The output format's name; nil takes it from the output file name.
  public var outputFormat: String?
  /// What the input format may lack (activations, vocabulary) and the `.rnn` read options.
  public var importOptions: ImportOptions
  /// The dtype of W, b, V and c in the output; nil keeps each parameter's own.
  public var dtype: DType?
  /// Replace an existing output file (never the input, and never anything but a regular file).
  public var overwrite: Bool
  /// Check the written file by a forward pass before putting it in place.
  public var verify: Bool
  /// How the input is read.
  public var isolation: IsolationPolicy

  /// Creates conversion options; the defaults detect both formats and isolate the input.
  public init(
    inputFormat: String? = nil, outputFormat: String? = nil, importOptions: ImportOptions = ImportOptions(),
    dtype: DType? = nil, overwrite: Bool = false, verify: Bool = false,
    isolation: IsolationPolicy = IsolationPolicy()
  ) {
    self.inputFormat = inputFormat
    self.outputFormat = outputFormat
    self.importOptions = importOptions
    self.dtype = dtype
    self.overwrite = overwrite
    self.verify = verify
    self.isolation = isolation
  }
}

/// The parts of ``ConversionOptions`` a child process receives when the input must be isolated.
struct ConversionRequest: Codable {
  var inputFormat: String?
  var outputFormat: String?
  var importOptions: ImportOptions
  var dtype: DType?
  var overwrite: Bool
  var verify: Bool

  init(_ options: ConversionOptions) {
    inputFormat = options.inputFormat
    outputFormat = options.outputFormat
    importOptions = options.importOptions
    dtype = options.dtype
    overwrite = options.overwrite
    verify = options.verify
  }

  func options(isolation: IsolationPolicy) -> ConversionOptions {
    ConversionOptions(
      inputFormat: inputFormat, outputFormat: outputFormat, importOptions: importOptions, dtype: dtype,
      overwrite: overwrite, verify: verify, isolation: isolation)
  }
}

/// What a conversion did.
public struct ConversionReport: Sendable, Codable {
  /// The input format's name.
  public var inputFormat: String
  /// The output format's name.
  public var outputFormat: String
  /// H of the model converted.
  public var hiddenSize: Int
  /// X of the model converted.
  public var inputSize: Int
  /// O of the model converted.
  public var outputSize: Int
  /// Whether the model converted has a vocabulary.
  public var hasVocabulary: Bool
  /// Its hidden activation f.
  public var hiddenActivation: HiddenActivation
  /// Its output activation g.
  public var outputActivation: OutputActivation
  /// The forward-pass check, when asked for.
  public var verification: VerificationReport?
  /// Problems worth a warning that did not stop the conversion (non-finite weights), one line each.
  public var warnings: [String]
}

/// Why a conversion was refused.
public enum ConversionError: Error, Sendable, CustomStringConvertible, ModelInputRequest {
  /// The output is the input file.
  case outputIsInput(String)
  /// The output exists and overwriting was not asked for.
  case outputExists(String)
  /// The output format cannot store this dtype.
  case unsupportedDType(format: String, dtype: DType, allowed: [DType])
  /// The written file does not compute what the source computes; `report` holds the largest
  /// difference, the tolerance and where the difference is.
  case verificationFailed(output: String, report: VerificationReport)
  /// The written file could not be read back for verification: `error` is the reader's, naming
  /// `output` where it names a file.
  case unreadableResult(output: String, error: any Error)

  public var requestedInput: ModelInput? {
    if case .outputExists = self { return .overwrite }
    return nil
  }

  public var description: String {
    switch self {
    case .outputIsInput(let path): return "\(displaySafe(path)): is the input file; refusing to overwrite it"
    case .outputExists(let path): return "\(displaySafe(path)): already exists"
    case .unsupportedDType(let format, let dtype, let allowed):
      return
        "the \(format) format cannot store \(dtype); it stores \(allowed.map(\.description).joined(separator: ", "))"
    case .unreadableResult(let output, let error):
      return "\(displaySafe(output)): the written file cannot be read back: \(error); nothing was written"
    case .verificationFailed(let output, let report):
      return "\(displaySafe(output)): verification failed: \(report.failure); nothing was written"
    }
  }

  /// The reader's `error` about `temporary`, the file it read in place of `output`.
  static func unreadable(output: String, temporary: String, error: any Error) -> ConversionError {
    guard let named = error as? any FileNamingError, named.path == temporary else {
      return .unreadableResult(output: output, error: error)
    }
    return .unreadableResult(output: output, error: named.naming(output))
  }
}

extension VerificationReport {
  /// The largest difference, where it is and the tolerance, in words.
  public var failure: String {
    var words = "the largest output difference \(largestDifference) exceeds \(tolerance)"
    if let position {
      words +=
        " (output \(position.output) at step \(position.step) of sequence \(position.sequence), length \(position.length): expected \(position.expected), found \(position.found))"
    }
    return words
  }
}

/// Converts a model file to another format: read (isolated where the format asks), write once,
/// atomically, optionally verified by a forward pass before the file is put in place.
public enum ModelConversion {
  /// Converts `input` to `output`.
  public static func convert(input: String, output: String, options: ConversionOptions) throws
    -> ConversionReport
  {
    let format = try ModelFormats.forOutput(path: output, name: options.outputFormat)
    if let dtype = options.dtype, !format.writableDTypes.contains(dtype) {
      throw ConversionError.unsupportedDType(
        format: format.name, dtype: dtype, allowed: format.writableDTypes)
    }
    // A write to `output` already in progress (``AtomicFile/writeDetached(standingFor:inFolder:copyingTo:_:)``,
    // standard output) owns the destination; `output` then names no file.
    let detached = AtomicFile.isWriting(output)
    if !detached, let a = ProcessCalls.fileIdentity(input), let b = ProcessCalls.fileIdentity(output), a == b
    {
      throw ConversionError.outputIsInput(output)
    }
    // Before any work: an existing file without overwrite, or anything but a regular file at all.
    do {
      if !detached { try AtomicFile.checkDestination(output, overwrite: options.overwrite) }
    } catch .destinationExists {
      throw ConversionError.outputExists(output)
    } catch {
      throw ContainerError(path: output, error: error)
    }
    // An isolated child writes the output by path, so a detached output is written here, from
    // the model the child reads.
    if !detached,
      try ModelFormats.formatInProcess(
        path: input, format: options.inputFormat, isolation: options.isolation)
        == nil
    {
      return try IsolatedReader.convert(
        input: input, output: output, request: ConversionRequest(options), policy: options.isolation)
    }
    let loaded = try ModelFormats.load(
      path: input, format: options.inputFormat, options: options.importOptions, isolation: options.isolation)
    let model = loaded.model
    // The NaN/Inf scan reads every weight once, on another core while the output is written.
    let scan = BackgroundScan(model)
    var verification: VerificationReport?
    do {
      try AtomicFile.write(to: output, overwrite: options.overwrite) { temporary in
        // The format writer's own atomic write of `output` joins this one: one temporary file.
        try format.write(
          model, to: output, options: ExportOptions(dtype: options.dtype, overwrite: options.overwrite))
        guard options.verify else { return }
        // The writer may have named the temporary file (HDF5 does); read it by that name then.
        let written: ElmanModel
        let current = AtomicFile.temporaryPath(of: output) ?? temporary
        do {
          written = try format.read(path: current, options: ImportOptions(restoring: model, in: format))
        } catch {
          // The reader names the temporary path, which the user never sees.
          throw ConversionError.unreadable(output: output, temporary: current, error: error)
        }
        let report = try ModelVerification.compare(
          source: model, result: written,
          tolerance: max(
            ModelVerification.tolerance(for: options.dtype ?? model.W.dtype),
            ModelVerification.tolerance(for: model.V.dtype)))
        verification = report
        guard report.passed else { throw ConversionError.verificationFailed(output: output, report: report) }
      }
    } catch FormatError.destinationExists {
      throw ConversionError.outputExists(output)
    } catch let error as FormatError {
      throw ContainerError(path: output, error: error)
    }
    return ConversionReport(
      inputFormat: loaded.format.name, outputFormat: format.name, hiddenSize: model.hiddenSize,
      inputSize: model.inputSize, outputSize: model.outputSize, hasVocabulary: model.vocabulary != nil,
      hiddenActivation: model.hiddenActivation, outputActivation: model.outputActivation,
      verification: verification,
      warnings: scan.problems().map(\.description))
  }
}

/// Looks for NaN and infinite weights on a background thread.
final class BackgroundScan: @unchecked Sendable {
  // `result` is written once by the thread before it signals, and read only after waiting.
  private var result: [ModelError] = []
  private let done = DispatchSemaphore(value: 0)

  init(_ model: ElmanModel) {
    let thread = Thread { [self] in
      result = model.nonFiniteWeights()
      done.signal()
    }
    thread.start()
  }

  /// The problems found, waiting for the scan to finish.
  func problems() -> [ModelError] {
    done.wait()
    done.signal()
    return result
  }
}
