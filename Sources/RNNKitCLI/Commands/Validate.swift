import ArgumentParser
import Foundation
import RNNKit

struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check that a model file is well-formed, every checksum matches and every weight is finite.",
    discussion: """
      Exits 0 when the file passes every check. Otherwise prints one line per problem on stderr and \
      exits 1.
      """)

  @Argument(help: "The model file.")
  var file: String

  @OptionGroup var input: ModelInputOptions

  func run() throws {
    let problems = try ModelValidation.problems(
      path: file, format: input.format, options: input.importOptions(),
      isolation: IsolationPolicy(isolate: !input.reading.trustInput))
    if problems.isEmpty {
      print("\(file): OK")
      return
    }
    for problem in problems {
      let line = "\(Advice.adding(to: problem))"
      FileHandle.standardError.write(Data("\(displaySafe(file)): \(line)\n".utf8))
    }
    throw ExitCode(1)
  }
}
