import ArgumentParser
import Foundation
import RNNKit

struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Convert a model between any two formats RNNKit reads and writes.",
    discussion: """
      The input format is detected from the content; the output format comes from --to or the \
      output file name. Formats that store no vocabulary take --vocab, and formats that store no \
      activations take --hidden-activation and --output-activation (see `rnnkit --help`).
      The output is written once, to a temporary file in its folder, and put in place only when \
      everything, including --verify, succeeded. The input is never overwritten.
      """)

  @Argument(help: "The model to read.")
  var input: String

  @Argument(help: "The file to write.")
  var output: String

  @OptionGroup var source: ModelInputOptions

  @Option(help: ArgumentHelp("The output format; from the file name by default.", valueName: "format"))
  var to: OutputFormatName?

  @Option(
    help: "The dtype of W, b, V and c in the output. Default: as stored, or f32 where the format decides.")
  var dtype: FloatDType?

  @Flag(help: "Replace an existing output file.")
  var force = false

  @Flag(help: "Run the forward pass of the source and the result on several sequences and compare.")
  var verify = false

  func run() throws {
    let report = try ModelConversion.convert(
      input: input, output: output,
      options: ConversionOptions(
        inputFormat: source.format, outputFormat: to?.name, importOptions: source.importOptions(),
        dtype: dtype?.dtype, overwrite: force, verify: verify,
        isolation: IsolationPolicy(isolate: !source.reading.trustInput)))
    for problem in report.warnings {
      FileHandle.standardError.write(Data("warning: \(displaySafe(input)): \(problem)\n".utf8))
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

/// A floating-point dtype name for `--dtype`.
struct FloatDType: ExpressibleByArgument, CaseIterable {
  let dtype: DType

  init?(argument: String) {
    guard let value = DType(name: argument), value.isFloatingPoint else { return nil }
    dtype = value
  }

  private init(_ dtype: DType) { self.dtype = dtype }
  static var allCases: [FloatDType] { DType.allCases.filter(\.isFloatingPoint).map(FloatDType.init) }
  static var allValueStrings: [String] { allCases.map(\.dtype.description) }
  var defaultValueDescription: String { dtype.description }
}
