import Foundation
import RNNKit
import Testing

/// End-to-end tests of `rnnkit train`, run as a user runs it.
@Suite struct TrainCommandTests {
  static let corpus = """
    My favourite dish is sushi. So, my favourite cuisine is japanese.
    My favourite dish is pizza. So, my favourite cuisine is italian.
    I love tacos, so I love mexican food.
    """

  /// Runs `rnnkit arguments…` as a user would.
  static func run(_ arguments: [String]) throws -> CLI.Result {
    try CLI.run(arguments)
  }

  /// A fresh folder with the corpus in it.
  static func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("rnnkit-train-\(UUID())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    try corpus.write(to: url.appendingPathComponent("corpus.txt"), atomically: true, encoding: .utf8)
    return url
  }

  @Test func trainsAndReportsEachEpochAsPlainLines() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent("model.rnn").path
    let run = try Self.run([
      "train", dir.appendingPathComponent("corpus.txt").path, "--output", output, "--hidden", "8", "--epochs",
      "3",
      "--lowercase", "--seed", "4",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    // Not a terminal: one plain line per epoch, no carriage returns or escape codes.
    let lines = run.stderr.split(separator: "\n")
    #expect(lines.count == 3)
    #expect(
      lines.allSatisfy { $0.hasPrefix("epoch ") && $0.contains(" loss ") && $0.contains(" perplexity ") })
    #expect(!run.stderr.contains("\r") && !run.stderr.contains("\u{1B}"))
    #expect(run.stdout.hasPrefix("wrote \(output): H 8"))

    let model = try ElmanModel.load(path: output)
    #expect(model.hiddenSize == 8)
    #expect(model.tokenizer.lowercase)
    #expect(model.provenance.sourceFormat == "rnnkit-train")
    #expect(model.provenance.converterVersion == rnnkitVersion)
    #expect(model.provenance.name == "model")
    #expect(model.vocabulary?.id(of: "japanese") != nil)
  }

  /// util-linux `script` (Debian's essential bsdutils) runs a command on a pseudo-terminal, so
  /// stderr is a terminal. Its absence fails the test at the `#require` below rather than skipping.
  static let script = ["/usr/bin/script", "/bin/script"].first {
    FileManager.default.isExecutableFile(atPath: $0)
  }

  @Test func drawsAProgressBarOnATerminal() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let binary = CLI.binary.path
    let corpus = dir.appendingPathComponent("corpus.txt").path
    let output = dir.appendingPathComponent("model.rnn").path
    let command = "'\(binary)' train '\(corpus)' -o '\(output)' --hidden 8 --epochs 2"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try #require(Self.script))
    process.arguments = ["-qec", command, "/dev/null"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "\(text)")
    // The bar is redrawn in place with a carriage return, then replaced by the epoch's line.
    #expect(text.contains("\repoch 1/2 [") || text.contains("\r\u{1B}[2Kepoch 1/2 ["), "\(text)")
    #expect(text.contains("epoch 2/2  loss "))
    #expect(FileManager.default.fileExists(atPath: output))
  }

  @Test func sameSeedGivesTheSameFile() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let corpus = dir.appendingPathComponent("corpus.txt").path
    var files: [Data] = []
    for name in ["a.rnn", "b.rnn"] {
      let run = try Self.run([
        "train", corpus, "-o", dir.appendingPathComponent(name).path, "--hidden", "6", "--epochs", "2",
        "--seed", "9", "--name", "same",
      ])
      #expect(run.status == 0, "\(run.stderr)")
      files.append(try Data(contentsOf: dir.appendingPathComponent(name)))
    }
    #expect(files[0] == files[1])
  }

  @Test func refusesToOverwriteWithoutForce() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let corpus = dir.appendingPathComponent("corpus.txt").path
    let output = dir.appendingPathComponent("model.rnn").path
    try Data("keep me".utf8).write(to: URL(fileURLWithPath: output))
    let refused = try Self.run(["train", corpus, "-o", output, "--hidden", "4", "--epochs", "1"])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains("\(output) already exists; pass --force"))
    #expect(try String(contentsOfFile: output, encoding: .utf8) == "keep me")

    let forced = try Self.run(["train", corpus, "-o", output, "--hidden", "4", "--epochs", "1", "--force"])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(try ElmanModel.load(path: output).hiddenSize == 4)
  }

  @Test func blasBackendTrains() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent("model.rnn").path
    let run = try Self.run([
      "train", dir.appendingPathComponent("corpus.txt").path, "-o", output, "--hidden", "8", "--epochs", "2",
      "--backend", "blas",
    ])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try ElmanModel.load(path: output).hiddenSize == 8)
  }

  @Test func unknownOutputExtensionIsNamed() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent("model.bin").path
    let run = try Self.run(["train", dir.appendingPathComponent("corpus.txt").path, "-o", output])
    #expect(run.status != 0)
    #expect(run.stderr.contains("\(output): cannot tell the output format"), "\(run.stderr)")
  }

  @Test func neverWritesOverItsInput() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let corpus = dir.appendingPathComponent("corpus.txt").path
    let run = try Self.run(["train", corpus, "-o", corpus, "--force", "--hidden", "4", "--epochs", "1"])
    #expect(run.status != 0)
    #expect(run.stderr.contains("is also an input"))
    #expect(try String(contentsOfFile: corpus, encoding: .utf8) == Self.corpus)
  }

  @Test func continuesTrainingWithFrom() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let corpus = dir.appendingPathComponent("corpus.txt").path
    let first = dir.appendingPathComponent("first.rnn").path
    let second = dir.appendingPathComponent("second.rnn").path
    #expect(
      try Self.run(["train", corpus, "-o", first, "--hidden", "8", "--epochs", "2", "--lowercase"]).status
        == 0)
    let more = try Self.run(["train", corpus, "-o", second, "--start-from", first, "--epochs", "2"])
    #expect(more.status == 0, "\(more.stderr)")
    let (a, b) = (try ElmanModel.load(path: first), try ElmanModel.load(path: second))
    #expect(b.vocabulary?.tokens == a.vocabulary?.tokens)
    #expect(b.tokenizer == a.tokenizer)
    #expect(b.W.floats() != a.W.floats())

    let mismatch = try Self.run([
      "train", corpus, "-o", dir.appendingPathComponent("third.rnn").path, "--start-from", first,
      "--tokenizer",
      "char",
    ])
    #expect(mismatch.status != 0)
    #expect(mismatch.stderr.contains("\(first): its tokenizer is word-level, not char-level"))
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("third.rnn").path))
  }

  /// Each refused value is checked in-process (ArgumentParsingTests.trainRefusesBadValues); here,
  /// that the binary turns a refusal into one line on stderr, a failing status and no model.
  @Test func aRefusedValueIsOneLineAndLeavesNoModel() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent("model.rnn").path
    let run = try Self.run(
      ["train", dir.appendingPathComponent("corpus.txt").path, "-o", output, "--hidden", "0"])
    // A usage error: exit 64, the reason on the first line, then the usage.
    #expect(run.status == 64)
    #expect(run.stderr.split(separator: "\n").first?.contains("--hidden 0") == true, "\(run.stderr)")
    #expect(run.stdout.isEmpty)
    #expect(!FileManager.default.fileExists(atPath: output))
  }

  @Test func badCorporaLeaveNoModel() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let cases: [(String, [UInt8], String)] = [
      ("empty.txt", [], "the corpus has no tokens"),
      ("one.txt", Array("hello\n".utf8), "has 1 token"),
      (
        "latin1.txt", Array("caf".utf8) + [0xE9] + Array("\n".utf8),
        "not valid UTF-8 (first bad byte at offset 3)"
      ),
    ]
    for (name, bytes, message) in cases {
      let path = dir.appendingPathComponent(name).path
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let output = dir.appendingPathComponent(name + ".rnn").path
      let run = try Self.run(["train", path, "-o", output, "--hidden", "4"])
      #expect(run.status != 0)
      #expect(run.stderr.contains("\(path): ") && run.stderr.contains(message), "\(run.stderr)")
      #expect(run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
      #expect(!FileManager.default.fileExists(atPath: output))
    }
  }

  @Test func nanLossStopsWithAdviceAndNoModel() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let output = dir.appendingPathComponent("model.rnn").path
    let run = try Self.run([
      "train", dir.appendingPathComponent("corpus.txt").path, "-o", output, "--hidden", "8",
      // 1e38 overflows the f32 weights (at 1e30 they stay finite, with a huge but finite loss).
      "--learning-rate", "1e38",
      "--no-clip",
    ])
    #expect(run.status != 0)
    #expect(run.stderr.contains("NaN or infinite in epoch 1"), "\(run.stderr)")
    #expect(run.stderr.contains("--learning-rate") && run.stderr.contains("--clip"))
    #expect(!FileManager.default.fileExists(atPath: output))
    // No temporary file is left behind either.
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["corpus.txt"])
  }
}
