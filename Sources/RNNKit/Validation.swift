import RNNFileFormats
import RNNFormat
import RNNModel

/// One thing wrong with a model file.
public struct ValidationProblem: Sendable, CustomStringConvertible, ModelInputRequest {
  /// The problem, in one line, without the file name.
  public var message: String
  /// What the caller can supply to get past it, if anything.
  public var requestedInput: ModelInput?
  public var description: String { message }
}

/// Checks a model file: structure, every checksum (for `.rnn`), the vocabulary and non-finite
/// weights. This is what `rnnkit validate` reports.
public enum ModelValidation {
  /// Every problem found in the file at `path`, in file order; empty when it passes. Structural
  /// errors stop the search, since nothing after them can be trusted.
  public static func problems(
    path: String, format: String? = nil, options: ImportOptions = ImportOptions(),
    isolation: IsolationPolicy = IsolationPolicy()
  ) throws -> [ValidationProblem] {
    let isRNN: Bool
    if let format {
      isRNN = try ModelFormats.named(format) is RNNFileFormat
    } else {
      isRNN = try ModelFormats.detectInProcess(path: path) is RNNFileFormat
    }
    if isRNN { return containerProblems(path: path) }
    let model: ElmanModel
    // Validation checks structure: what the file does not store is not a problem of the file.
    var options = options
    options.standIns = true
    do {
      model = try ModelFormats.read(path: path, format: format, options: options, isolation: isolation)
    } catch let error as ModelFileError {
      return [ValidationProblem(message: error.error.description)]
    } catch {
      let message = "\(error)"
      let prefix = displaySafe(path) + ": "
      return [
        ValidationProblem(
          message: message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message,
          requestedInput: (error as? any ModelInputRequest)?.requestedInput)
      ]
    }
    return modelProblems(model, nonFinite: model.nonFiniteWeights())
  }

  /// A `.rnn` file: opened without verification so every corrupt part is listed, then one pass
  /// over the data for checksums and non-finite weights.
  static func containerProblems(path: String) -> [ValidationProblem] {
    let container: Container
    do {
      container = try Container(
        storage: ByteStorage(mapping: path),
        options: ReadOptions(verifyChecksums: false, verifyHeaderChecksum: false))
    } catch {
      return [ValidationProblem(message: error.description)]
    }
    var problems: [ValidationProblem] = []
    let computed = container.computedHeaderChecksum()
    if computed != container.storedHeaderChecksum {
      problems.append(
        ValidationProblem(
          message: FormatError.checksumMismatch(
            part: "header", stored: container.storedHeaderChecksum, computed: computed
          ).description))
    }
    let scans = container.scan()
    for scan in scans where !scan.checksumMatches {
      guard let entry = container.entry(named: scan.name) else { continue }
      problems.append(
        ValidationProblem(
          message: FormatError.checksumMismatch(
            part: "tensor \"\(scan.name)\"", stored: entry.checksum, computed: scan.computedChecksum
          ).description))
    }
    let nonFinite = scans.filter { ["W", "b", "V", "c"].contains($0.name) && $0.nanCount + $0.infCount > 0 }
      .map { ModelError.nonFinite(tensor: $0.name, nanCount: $0.nanCount, infCount: $0.infCount) }
    let model: ElmanModel
    do {
      model = try ElmanModel(container: container)
    } catch {
      return problems + [ValidationProblem(message: error.description)]
    }
    return problems + modelProblems(model, nonFinite: nonFinite)
  }

  static func modelProblems(_ model: ElmanModel, nonFinite: [ModelError]) -> [ValidationProblem] {
    var problems: [ValidationProblem] = []
    if let vocabulary = model.vocabulary {
      do { try vocabulary.checkUnique() } catch {
        problems.append(ValidationProblem(message: error.description))
      }
    }
    return problems + nonFinite.map { ValidationProblem(message: $0.description) }
  }
}
