import ArgumentParser
import Foundation
import RNNKit

struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Convert a model between any two formats RNNKit reads and writes.",
    discussion: """
      The input format is detected from the content; the output format comes from --to or the \
      output file name. Formats that store no vocabulary take --vocab, and formats that store no \
      activations take --hidden-activation and --output-activation (see `rnnkit --help`). \
      The output is written once, to a temporary file in its folder, and put in place only when \
      everything, including --verify, succeeded. The input is never overwritten.

      Examples:
        rnnkit convert Fixtures/cuisine.rnn cuisine.safetensors --verify
        rnnkit convert Fixtures/cuisine.h5 - --to rnn > cuisine.rnn
      """)

  @Argument(help: "The model to read (- reads standard input; give --from).", completion: .file())
  var input: String

  @Argument(
    help: ArgumentHelp("The file to write (- writes standard output; give --to).", valueName: "output"),
    completion: .file())
  var outputArgument: String?

  @Option(
    name: [.short, .customLong("output")], help: "The file to write, instead of the second argument.",
    completion: .file())
  var outputOption: String?

  @OptionGroup var source: ModelInputOptions

  @Option(help: ArgumentHelp("The output format (default: from the file name).", valueName: "format"))
  var to: OutputFormatName?

  @Option(
    help:
      "The dtype of W, b, V and c in the output (default: as stored, or f32 where the format decides); int8 (i8) quantizes V per row (.rnn only)."
  )
  var dtype: FloatDType?

  @Flag(help: "Replace an existing output file.")
  var force = false

  @Flag(help: "Run the forward pass of the source and the result on several sequences and compare.")
  var verify = false

  @Flag(help: "Print the report as JSON on standard output (not with an output of -).")
  var json = false

  var output: String { outputOption ?? outputArgument ?? "" }

  func validate() throws {
    guard (outputArgument == nil) != (outputOption == nil) else {
      throw ValidationError("give the output once: as the second argument or with -o")
    }
    if input == InputPath.standardStream && source.format == nil {
      throw ValidationError("reading standard input needs --from FORMAT (one of \(FormatHelp.readableNames))")
    }
    if output == InputPath.standardStream {
      guard to != nil else {
        throw ValidationError(
          "writing standard output needs --to FORMAT (one of \(FormatHelp.writableNames))")
      }
      if json { throw ValidationError("--json prints on standard output; write the model to a file") }
    } else if to == nil && (try? ModelFormats.forOutput(path: output, name: nil)) == nil {
      let known = ModelFormats.writable.flatMap(\.extensions).joined(separator: ", ")
      throw ValidationError(
        "\(output): cannot tell the output format from the file name; pass --to FORMAT or end it in one of \(known)"
      )
    }
  }

  func run() throws {
    // The output first: a special file there is refused before any work, even reading the input.
    try InputPath.checkOutputFolder(output)
    if output != InputPath.standardStream {
      do { try AtomicFile.checkDestination(output, overwrite: force) } catch .notRegularFile(
        let path, let kind)
      {
        throw ContainerError(path: path, error: .notRegularFile(path, kind: kind))
      } catch {}
    }
    try InputPath.check(input)
    let toStandardOutput = output == InputPath.standardStream
    let options = try ConversionOptions(
      inputFormat: source.format, outputFormat: to?.name, importOptions: source.importOptions(),
      dtype: dtype?.dtype, overwrite: force, verify: verify,
      isolation: IsolationPolicy(isolate: !source.reading.trustInput))
    let resolved = try InputPath.resolve(input)
    // Standard output gets a model written to a file with no name, then copied out: a kill
    // leaves nothing on disk.
    let report =
      toStandardOutput
      ? try AtomicFile.writeDetached(
        standingFor: output, inFolder: FileManager.default.temporaryDirectory.path,
        copyingTo: FileHandle.standardOutput.fileDescriptor
      ) { try ModelConversion.convert(input: resolved, output: output, options: options) }
      : try ModelConversion.convert(input: resolved, output: output, options: options)
    for problem in report.warnings {
      FileHandle.standardError.write(Data("warning: \(displaySafe(input)): \(problem)\n".utf8))
    }
    if let lost = ExportLoss.warning(report: report, input: input) {
      FileHandle.standardError.write(Data("warning: \(displaySafe(output)): \(lost)\n".utf8))
    }
    if toStandardOutput { return }
    if json {
      var fields: [(String, JSON)] = [
        ("input", .string(input)), ("input_format", .string(report.inputFormat)), ("output", .string(output)),
        ("output_format", .string(report.outputFormat)), ("hidden_size", .int(report.hiddenSize)),
        ("input_size", .int(report.inputSize)), ("output_size", .int(report.outputSize)),
        ("warnings", .array(report.warnings.map { .string("\($0)") })),
      ]
      fields.append(
        (
          "verification",
          report.verification.map {
            .object([
              ("largest_difference", .number($0.largestDifference)), ("sequences", .int($0.sequences)),
              ("tolerance", .number($0.tolerance)), ("passed", .bool($0.passed)),
              ("position", $0.position.map(Self.json) ?? .null),
            ])
          } ?? .null
        ))
      print(JSON.object(fields).rendered())
      return
    }
    let check =
      report.verification.map {
        "; verify: largest difference \($0.largestDifference) over \($0.sequences) sequences (tolerance \($0.tolerance))"
      } ?? ""
    print(
      "\(input) (\(report.inputFormat)) -> \(output) (\(report.outputFormat)): H \(report.hiddenSize), X \(report.inputSize), O \(report.outputSize)\(check)"
    )
  }
}

extension Convert {
  /// Where the largest difference was found, with both values, so a script can look there.
  static func json(_ position: OutputPosition) -> JSON {
    .object([
      ("sequence", .int(position.sequence)), ("length", .int(position.length)), ("step", .int(position.step)),
      ("output", .int(position.output)), ("expected", RuntimeCommand.number(position.expected)),
      ("found", RuntimeCommand.number(position.found)),
    ])
  }
}

/// A weight dtype name for `--dtype`: a float dtype, or i8 (int8) for per-row quantized V.
struct FloatDType: ExpressibleByArgument, CaseIterable {
  let dtype: DType

  init?(argument: String) {
    guard let value = DType(name: argument), value.isFloatingPoint || value == .i8 else { return nil }
    dtype = value
  }

  private init(_ dtype: DType) { self.dtype = dtype }
  static var allCases: [FloatDType] {
    DType.allCases.filter { $0.isFloatingPoint || $0 == .i8 }.map(FloatDType.init)
  }
  static var allValueStrings: [String] { allCases.map(\.dtype.description) }
  var defaultValueDescription: String { dtype.description }
}
