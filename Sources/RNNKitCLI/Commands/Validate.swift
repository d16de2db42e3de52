import ArgumentParser
import Foundation
import RNNKit

struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check that a model file is well-formed, every checksum matches and every weight is finite.",
    discussion: """
      Exits 0 when the file passes every check. Otherwise prints one line per problem on stderr and \
      exits 1.

      Example: rnnkit validate Fixtures/cuisine.rnn
      """)

  @Argument(help: "The model file.", completion: .file())
  var file: String

  @OptionGroup var input: ReadingOptions

  @Flag(
    help: "Print JSON on standard output: {\"file\", \"valid\", \"problems\": [{\"message\", \"needs\"}]}.")
  var json = false

  func run() throws {
    try InputPath.check(file)
    let problems = try ModelValidation.problems(
      path: InputPath.resolve(file), format: input.format,
      options: input.importOptions(),
      isolation: IsolationPolicy(isolate: !input.trustInput))
    if json {
      let entries = problems.map { problem in
        JSON.object([
          ("message", .string(problem.message)),
          ("needs", problem.requestedInput.map { .string(Advice.flag(for: $0)) } ?? .null),
        ])
      }
      print(
        JSON.object([
          ("file", .string(file)), ("valid", .bool(problems.isEmpty)), ("problems", .array(entries)),
        ])
        .rendered())
      if !problems.isEmpty { throw ExitCode(1) }
      return
    }
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
