import Foundation
import Testing

/// Help that teaches: an example in every command's help, completions that offer files for model
/// and corpus arguments and the values of --from, --to, --dtype, the activations and --tokenizer.
@Suite struct HelpTests {
  static let commands = [
    "inspect", "validate", "diff", "convert", "forward", "predict", "generate", "score", "train", "vocab",
  ]

  @Test func everyCommandHelpHasAnExample() throws {
    for command in Self.commands {
      let help = try CLI.run([command, "--help"])
      #expect(help.status == 0)
      #expect(help.stdout.contains("Example"), "\(command)")
      #expect(help.stdout.contains("rnnkit \(command) "), "\(command)")
      #expect(!help.stdout.contains("by default"), "\(command): defaults are written (default: …)")
      for line in help.stdout.split(separator: "\n") where !line.contains("rnnkit ") {
        #expect(line.count <= 80, "\(command): a line of \(line.count) characters: \(line)")
      }
    }
  }

  @Test func completionsOfferFilesAndValues() throws {
    let zsh = try CLI.run(["--generate-completion-script", "zsh"]).stdout
    func function(_ command: String) -> String {
      guard let start = zsh.range(of: "_rnnkit_\(command)() {") else { return "" }
      let rest = zsh[start.upperBound...]
      return String(rest[..<(rest.range(of: "\n}\n")?.lowerBound ?? rest.endIndex)])
    }
    for command in Self.commands where command != "diff" && command != "train" {
      let body = function(command)
      #expect(body.contains(":_files'"), "\(command): its model argument completes files")
    }
    #expect(function("diff").components(separatedBy: ":_files'").count >= 3)
    #expect(function("train").contains("':corpus:_files'"))
    let convert = function("convert")
    #expect(convert.contains("'safetensors'") && convert.contains("'keras-h5'"))
    #expect(convert.contains("___dtype=('f32' 'f16' 'bf16' 'f64' 'i8')"))
    #expect(function("predict").contains("___hidden_activation=('tanh' 'relu'"))
    #expect(function("train").contains("___tokenizer=('word' 'char')"))
    #expect(function("train").contains("___backend=('portable' 'blas')"))
  }
}
