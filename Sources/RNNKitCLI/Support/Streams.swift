import ArgumentParser
import Foundation
import RNNKit

/// What an export leaves out, from the output format's capabilities, said in one line with the way
/// to read the file back.
enum ExportLoss {
  static func warning(model: ElmanModel, format name: String, input: String) -> String? {
    warning(
      hasVocabulary: model.vocabulary != nil, hiddenActivation: model.hiddenActivation,
      outputActivation: model.outputActivation, format: name, input: input)
  }

  static func warning(report: ConversionReport, input: String) -> String? {
    warning(
      hasVocabulary: report.hasVocabulary, hiddenActivation: report.hiddenActivation,
      outputActivation: report.outputActivation, format: report.outputFormat, input: input)
  }

  static func warning(
    hasVocabulary: Bool, hiddenActivation: HiddenActivation, outputActivation: OutputActivation,
    format name: String, input: String
  ) -> String? {
    guard let format = try? ModelFormats.named(name) else { return nil }
    var lost: [String] = []
    var restore: [String] = []
    if hasVocabulary && !format.capabilities.contains(.storesVocabulary) {
      lost.append("no vocabulary")
      restore.append("--vocab FILE (`rnnkit vocab \(input) > FILE` writes it)")
    }
    if !format.capabilities.contains(.storesActivations) {
      lost.append("no activations")
      restore.append(
        "--hidden-activation \(hiddenActivation.rawValue) --output-activation \(outputActivation.rawValue)"
      )
    }
    guard !lost.isEmpty else { return nil }
    return "the \(format.name) format stores \(lost.joined(separator: " and ")); to read it back, pass "
      + restore.joined(separator: " and ")
  }
}

/// Words of the input that the model does not know and reads as its unknown token: said on
/// standard error (how many, the first few), or an error with `--strict`.
struct UnknownWords: ParsableArguments {
  @Flag(help: "Refuse input with words the vocabulary lacks, instead of reading them as the unknown token.")
  var strict = false

  static func report(in text: String, model: ElmanModel, strict: Bool) throws {
    guard let unknown = model.unknownWords(in: text) else { return }
    let list = unknown.first.map { "\"\(displaySafe(Text.quoted($0)))\"" }.joined(separator: ", ")
    let words = unknown.count == 1 ? "1 word is" : "\(unknown.count) words are"
    let message =
      "\(words) not in the vocabulary (\(list)\(unknown.count > unknown.first.count ? ", …" : ""))"
    if strict { throw CLIError(message) }
    FileHandle.standardError.write(
      Data("warning: \(message); read as \(Text.quoted(unknown.unknownToken))\n".utf8))
  }
}
