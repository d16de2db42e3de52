import ArgumentParser
import Foundation
import Testing

@testable import RNNKitCLI

/// `rnnkit`'s argument handling, checked in this process as swift-argument-parser's own tests do:
/// no binary to start, and the parsed values themselves can be looked at. What a command does with
/// good arguments is tested end to end on the binary.
enum InProcess {
  /// Parses `arguments` as `rnnkit` does: swift-argument-parser, then the command's `validate()`.
  static func parse<Command: ParsableCommand>(_ arguments: [String], as: Command.Type) throws -> Command {
    let command = try RNNKitCommand.parseAsRoot(arguments)
    return try #require(command as? Command, "parsed as \(type(of: command))")
  }

  /// What `rnnkit arguments…` prints when it refuses them, or nil when it accepts them. Some values
  /// are checked at the start of the command's `run()`, before it reads or writes anything, so the
  /// command is run too; callers pass only paths that do not exist, so nothing else can happen.
  static func refusal(_ arguments: [String]) -> String? {
    do {
      var command = try RNNKitCommand.parseAsRoot(arguments)
      try command.run()
      return nil
    } catch {
      // As `RNNKitCommand.main()` reports it.
      let error = Advice.adding(to: error)
      #expect(RNNKitCommand.exitCode(for: error) != .success, "\(error)")
      return RNNKitCommand.fullMessage(for: error)
    }
  }

  /// A path in a folder that does not exist.
  static func nowhere(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-absent-\(UUID().uuidString)")
      .appendingPathComponent(name).path
  }
}

@Suite struct ArgumentParsingTests {
  @Test func trainTakesItsDefaultsAndItsOptionNames() throws {
    let defaults = try InProcess.parse(["train", "c.txt", "-o", "m.rnn"], as: Train.self)
    #expect(defaults.corpus == "c.txt" && defaults.output == "m.rnn")
    #expect(defaults.hidden == nil && defaults.epochs == 20 && defaults.learningRate == 0.05)
    #expect(defaults.clip == 5 && !defaults.noClip && defaults.bpttLength == 32 && defaults.seed == 0)
    #expect(defaults.backend == .portable && defaults.base == nil && !defaults.force)

    let given = try InProcess.parse(
      [
        "train", "c.txt", "--output", "m.rnn", "--hidden", "8", "--learning-rate=0.5", "--no-clip",
        "--bptt-length", "4", "--seed", "18446744073709551615", "--start-from", "base.rnn", "--force",
      ], as: Train.self)
    #expect(given.output == "m.rnn" && given.hidden == 8 && given.learningRate == 0.5)
    #expect(given.noClip && given.bpttLength == 4 && given.seed == .max)
    #expect(given.base == "base.rnn" && given.force)
  }

  @Test(arguments: [
    (["train", "c.txt"], "Missing expected argument '--output <output>'"),
    (["train", "c.txt", "-o", "m.rnn", "--hidden", "eight"], "The value 'eight' is invalid for '--hidden"),
    (["train", "c.txt", "-o", "m.rnn", "--seed", "-1"], "--seed"),
    (["train", "c.txt", "-o", "m.rnn", "--epoch", "3"], "Unknown option '--epoch'"),
    (["convert", "a.rnn"], "give the output once: as the second argument or with -o"),
    (["predict", "m.rnn", "the", "--top", "0"], "--top must be at least 1"),
    (["generate", "m.rnn", "the", "--max-tokens=-1"], "--max-tokens must be 0 or more"),
    (["generate", "m.rnn", "the", "--temperature=-0.5"], "--temperature must be a finite number, 0 or more"),
    (["generate", "m.rnn", "the", "--top-k", "0"], "--top-k must be at least 1"),
    (["forward", "m.rnn"], "give exactly one of --ids, --text and --inputs"),
    (["forward", "m.rnn", "--ids", "1", "--text", "a"], "give exactly one of --ids, --text and --inputs"),
    (["frobnicate"], "Unexpected argument 'frobnicate'"),
  ])
  func parsingRefuses(arguments: [String], message: String) throws {
    #expect(throws: (any Error).self, "\(arguments) parsed") { try RNNKitCommand.parseAsRoot(arguments) }
    let refusal = try #require(InProcess.refusal(arguments))
    #expect(refusal.contains(message), "\(arguments): \(refusal)")
  }

  /// Values that `train` refuses while parsing, before it reads the corpus: each is named with its
  /// flag (the library reports the parameter, and the CLI maps it to the flag).
  @Test(arguments: [
    (["--hidden", "0"], "--hidden 0"),
    (["--hidden", "-2"], "--hidden -2"),
    (["--learning-rate", "0"], "--learning-rate 0"),
    (["--learning-rate", "-1"], "--learning-rate -1"),
    (["--epochs", "0"], "--epochs 0"),
    (["--tokenizer", "byte"], "The value 'byte' is invalid for '--tokenizer <tokenizer>'"),
    (["--backend", "gpu"], "The value 'gpu' is invalid for '--backend <backend>'"),
    (["--created", "yesterday"], "--created yesterday"),
    (["--clip", "0"], "--clip 0.0"),
    (["--hidden-activation", "gelu"], "The value 'gelu' is invalid for '--hidden-activation"),
    (["--threads", "0"], "--threads 0: use between 1 and 1024 threads"),
  ])
  func trainRefusesBadValues(options: [String], message: String) throws {
    let output = InProcess.nowhere("model.rnn")
    // Usage errors, refused while parsing (exit 64), before the corpus is looked at.
    #expect(throws: (any Error).self) {
      try RNNKitCommand.parseAsRoot(["train", InProcess.nowhere("corpus.txt"), "-o", output] + options)
    }
    let refusal = try #require(
      InProcess.refusal(["train", InProcess.nowhere("corpus.txt"), "-o", output] + options))
    #expect(refusal.contains(message), "\(refusal)")
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  @Test func convertRefusesADTypeThatIsNotAFloat() throws {
    let output = InProcess.nowhere("o.h5")
    let refusal = try #require(
      InProcess.refusal(["convert", InProcess.nowhere("m.rnn"), output, "--dtype", "i32"]))
    // A parse-time refusal that lists the values the registry of dtypes allows.
    #expect(refusal.contains("The value 'i32' is invalid for '--dtype <dtype>'"), "\(refusal)")
    #expect(refusal.contains("'bf16'"), "\(refusal)")
    #expect(!FileManager.default.fileExists(atPath: output))
  }
}
