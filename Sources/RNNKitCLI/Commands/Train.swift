import ArgumentParser
import Foundation
import RNNKit

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `rnnkit train`: a next-token model from a text file, by truncated BPTT and plain SGD.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a next-token model on a text file by backpropagation through time.",
    discussion: """
      Each non-empty line of CORPUS is one sequence; the hidden state starts at zero on every line. \
      The loss is the cross-entropy of the softmax output against the next token, summed over each \
      window of --bptt-length steps. Each update is W := W - η·∂Loss/∂W, with the gradient scaled \
      down to norm --clip when it is larger. The same seed and options give the same model.

      Example: rnnkit train Fixtures/corpus/cuisine.txt -o cuisine.rnn --lowercase --epochs 120 --learning-rate 0.1 --clip 1
      """)

  @Argument(
    help: "A UTF-8 text file to learn from, one sequence per line (- reads standard input).",
    completion: .file())
  var corpus: String

  @Option(
    name: [.short, .long], help: "The model to write (.rnn, or another format's extension).",
    completion: .file())
  var output: String

  @Option(parsing: .unconditional, help: "The hidden size H of a new model (default: 64).")
  var hidden: Int?

  @Option(parsing: .unconditional, help: "Passes over the corpus.")
  var epochs: Int = 20

  @Option(parsing: .unconditional, help: "The learning rate η.")
  var learningRate: Double = 0.05

  @Option(parsing: .unconditional, help: "Scale gradients down to this norm when they are larger.")
  var clip: Double = 5

  @Flag(help: "Turn gradient-norm clipping off.")
  var noClip = false

  @Option(parsing: .unconditional, help: "Truncated BPTT: backpropagate through at most this many steps.")
  var bpttLength: Int = 32

  @Option(parsing: .unconditional, help: "Seeds the initial weights and the order of lines.")
  var seed: UInt64 = 0

  @Option(help: "Tokenize into words (punctuation split off) or characters (default: word).")
  var tokenizer: TokenizerSettings.Level?

  @Flag(help: "Lower-case the text before tokenizing (stored in the model).")
  var lowercase = false

  @Flag(
    inversion: .prefixedNo,
    help: "End every line with the token \(Train.endOfSequence), where `rnnkit generate` stops (new models).")
  var eos = true

  static let endOfSequence = "</s>"

  @Option(parsing: .unconditional, help: "Tokens seen fewer times become <unk> (default: 1).")
  var minCount: Int?

  @Option(help: "The hidden activation f of a new model (default: tanh). The output is always softmax.")
  var hiddenActivation: HiddenActivation?

  @Option(
    help:
      "How the network is computed: portable (RNNKit's kernels; the same model for any thread count, and on any CPU with AVX2, AVX-512 or arm64) or blas (OpenBLAS)."
  )
  var backend: TrainingBackend = .portable

  @Option(
    parsing: .unconditional,
    help:
      "Threads of the portable backend (default: every processor); the model is the same for any count. The blas backend uses OPENBLAS_NUM_THREADS."
  )
  var threads: Int?

  @Option(
    name: .customLong("start-from"),
    help: ArgumentHelp(
      "Continue training this model (any readable format) instead of starting a new one.", valueName: "model")
  )
  var base: String?

  @Flag(
    help:
      "Read the --start-from model inside this process, even when its reader is a C library (trusted files only)."
  )
  var trustInput = false

  @Option(help: "The model's name (default: the output file's name).")
  var name: String?

  @Option(
    help: "An ISO 8601 date to record as the creation date (default: none, so runs are reproducible).")
  var created: String?

  @Flag(help: "Replace an existing output file.")
  var force = false

  @Flag(help: "Print the result as JSON on standard output (epoch lines stay on standard error).")
  var json = false

  var trainingOptions: TrainingOptions {
    TrainingOptions(
      epochs: epochs, learningRate: learningRate, clip: noClip ? nil : clip, bpttLength: bpttLength,
      seed: seed, backend: backend, threads: threads)
  }

  func validate() throws {
    if let hidden, hidden <= 0 {
      throw usageError(
        TrainingError.invalidParameter(
          .hiddenSize, value: "\(hidden)", reason: "the hidden size must be at least 1"))
    }
    if let minCount, minCount < 1 {
      throw usageError(
        TrainingError.invalidParameter(
          .minCount, value: "\(minCount)", reason: "the minimum count must be at least 1"))
    }
    do { try trainingOptions.validate() } catch { throw usageError(error) }
    for input in [corpus] + (base.map { [$0] } ?? []) where sameFile(input, output) {
      throw ValidationError("\(output): is also an input (\(input)); write the model to another file")
    }
    if (try? ModelFormats.forOutput(path: output, name: nil)) == nil {
      let known = ModelFormats.writable.flatMap(\.extensions).joined(separator: ", ")
      throw ValidationError(
        "\(output): cannot tell the output format from the file name; end it in one of \(known)")
    }
    if let created, !isISO8601Date(created) {
      throw ValidationError(
        "--created \(created): expected an ISO 8601 date such as 2026-01-31 or 2026-01-31T12:00:00Z")
    }
  }

  func run() throws {
    var settings = LanguageModelSettings(minCount: minCount, hiddenSize: hidden)
    if let tokenizer { settings.level = tokenizer }
    if lowercase { settings.lowercase = true }
    if eos { settings.endOfSequence = Self.endOfSequence }
    if let hiddenActivation { settings.hiddenActivation = hiddenActivation }
    let options = trainingOptions

    // Refuse before spending time on training.
    try InputPath.check(corpus)
    try InputPath.check(base)
    try InputPath.checkOutputFolder(output)
    let format = try ModelFormats.forOutput(path: output, name: nil)
    if !force && fileExists(output) {
      throw CLIError("\(output) already exists; pass --force to overwrite it")
    }

    let text = try Corpus.readText(path: corpus == InputPath.standardStream ? "/dev/stdin" : corpus)
    let baseModel = try base.map { path in
      BaseModel(
        model: try ModelFormats.read(path: path, isolation: IsolationPolicy(isolate: !trustInput)), path: path
      )
    }
    let provenance = Provenance(
      name: name ?? baseModel?.model.provenance.name ?? modelName(output),
      description: "Trained by rnnkit train on \(fileName(corpus)) for \(epochs) epochs"
        + (base != nil ? ", continuing \(fileName(base!))" : ""),
      sourceFormat: "rnnkit-train", converterVersion: rnnkitVersion, created: created)

    let display = ProgressDisplay(interactive: isatty(STDERR_FILENO) == 1, epochs: epochs)
    let model: ElmanModel
    let reports: [EpochReport]
    do {
      (model, reports) = try LanguageModelTrainer.train(
        text: text, corpusName: corpus, settings: settings, options: options, base: baseModel,
        provenance: provenance, progress: display.update, epochEnd: display.finish)
    } catch {
      display.abandon()
      throw error
    }
    try format.write(model, to: output, options: ExportOptions(overwrite: force))
    if let lost = ExportLoss.warning(model: model, format: format.name, input: output) {
      FileHandle.standardError.write(Data("warning: \(displaySafe(output)): \(lost)\n".utf8))
    }
    let last = reports.last!
    let tokensPerSecond =
      Double(reports.reduce(0) { $0 + $1.tokens }) / max(reports.reduce(0) { $0 + $1.seconds }, 1e-9)
    if json {
      print(
        JSON.object([
          ("output", .string(output)), ("format", .string(format.name)),
          ("hidden_size", .int(model.hiddenSize)),
          ("vocabulary_size", .int(model.vocabulary?.count ?? 0)), ("epochs", .int(reports.count)),
          ("final_loss", .number(last.meanLoss)), ("perplexity", last.perplexity.map(JSON.number) ?? .null),
          ("tokens_per_second", .number(tokensPerSecond.rounded())),
        ]).rendered())
      return
    }
    print(
      "wrote \(output): H \(model.hiddenSize), vocabulary \(model.vocabulary?.count ?? 0), \(reports.count) epochs, "
        + "final loss \(fixed(last.meanLoss, 4))"
        + (last.perplexity.map { ", perplexity \(fixed($0, 2))" } ?? "")
        + ", \(Int(tokensPerSecond.rounded())) tokens/s")
  }
}

/// Epoch lines on stderr; on a terminal, also a progress bar redrawn in place.
private final class ProgressDisplay {
  let interactive: Bool
  let epochs: Int
  private var lastDraw: ContinuousClock.Instant?
  private let clock = ContinuousClock()

  init(interactive: Bool, epochs: Int) {
    self.interactive = interactive
    self.epochs = epochs
  }

  func update(_ progress: TrainingProgress) {
    guard interactive else { return }
    let now = clock.now
    if let lastDraw, lastDraw.duration(to: now) < .milliseconds(100),
      progress.tokensDone < progress.tokensInEpoch
    {
      return
    }
    lastDraw = now
    let width = 30
    let fraction = Double(progress.tokensDone) / Double(max(progress.tokensInEpoch, 1))
    let filled = min(width, Int(fraction * Double(width)))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    emit(
      "\r\u{1B}[2Kepoch \(progress.epoch)/\(progress.epochs) [\(bar)] \(Int(fraction * 100))%  loss \(fixed(progress.meanLoss, 4))"
    )
  }

  /// Ends a half-drawn progress bar, so an error message starts on a line of its own.
  func abandon() {
    if interactive { emit("\n") }
  }

  func finish(_ report: EpochReport) {
    var line = "epoch \(report.epoch)/\(epochs)  loss \(fixed(report.meanLoss, 4))"
    if let perplexity = report.perplexity { line += "  perplexity \(fixed(perplexity, 2))" }
    line += "  \(Int(report.tokensPerSecond.rounded())) tokens/s"
    if report.clippedUpdates > 0 { line += "  clipped \(report.clippedUpdates)/\(report.updates) updates" }
    emit((interactive ? "\r\u{1B}[2K" : "") + line + "\n")
  }

  private func emit(_ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes {
        write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset)
      }
      if written <= 0 { return }
      offset += written
    }
  }
}

private func fixed(_ value: Double, _ digits: Int) -> String {
  guard value.isFinite else { return "\(value)" }
  var scale = 1.0
  for _ in 0..<digits { scale *= 10 }
  let rounded = (value * scale).rounded() / scale
  var text = "\(rounded)"
  if let dot = text.firstIndex(of: "."), !text.contains("e") {
    let decimals = text.distance(from: dot, to: text.endIndex) - 1
    if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
  }
  return text
}

/// Whether `text` starts with an ISO 8601 calendar date (YYYY-MM-DD), optionally followed by a time.
private func isISO8601Date(_ text: String) -> Bool {
  let bytes = Array(text.utf8)
  guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
  let digits = [0, 1, 2, 3, 5, 6, 8, 9].allSatisfy {
    bytes[$0] >= UInt8(ascii: "0") && bytes[$0] <= UInt8(ascii: "9")
  }
  return digits && (bytes.count == 10 || bytes[10] == UInt8(ascii: "T"))
}

private func fileName(_ path: String) -> String {
  path.split(separator: "/").last.map(String.init) ?? path
}

private func modelName(_ path: String) -> String {
  let name = fileName(path)
  guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
  return String(name[..<dot])
}

private func fileExists(_ path: String) -> Bool {
  var info = stat()
  return stat(path, &info) == 0
}

/// Whether two paths name the same existing file (same device and inode).
private func sameFile(_ a: String, _ b: String) -> Bool {
  var x = stat()
  var y = stat()
  guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
  return x.st_dev == y.st_dev && x.st_ino == y.st_ino
}
