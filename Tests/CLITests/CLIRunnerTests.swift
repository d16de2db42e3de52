import Foundation
import TestSupport
import Testing

/// The runner must never deadlock on a chatty child: a pipe holds 64 KiB, so reading stdout to its
/// end before stderr (or writing all of stdin before reading anything) blocks both sides forever
/// once the child has more than that to say.
@Suite struct CLIRunnerTests {
  static let mebibyte = 1 << 20
  static let shell = URL(fileURLWithPath: "/bin/sh")

  /// Runs `body` and returns its result, or throws `Deadlock` when it has not returned after two
  /// minutes (each case takes seconds). Swift Testing's time limit cannot end a blocked read, so
  /// without this a deadlock would hang the whole run instead of failing this test.
  static func unlessItHangs<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
    let run = Background { Result { try body() } }
    guard let result = run.wait(seconds: 120) else { throw Deadlock() }
    return try result.get()
  }

  @Test func aChildThatFillsStderrBeforeWritingStdoutFinishes() throws {
    // 1 MiB of "e" to stderr, then 1 MiB of "o" to stdout.
    let script =
      "head -c \(Self.mebibyte) /dev/zero | tr '\\0' e >&2; head -c \(Self.mebibyte) /dev/zero | tr '\\0' o"
    let result = try Self.unlessItHangs { try ChildProcess.run(Self.shell, ["-c", script]) }
    #expect(result.status == 0)
    #expect(result.stderr.count == Self.mebibyte && result.stderr.allSatisfy { $0 == UInt8(ascii: "e") })
    #expect(result.stdout.count == Self.mebibyte && result.stdout.allSatisfy { $0 == UInt8(ascii: "o") })
  }

  @Test func aChildThatEchoesALargeInputOnBothStreamsFinishes() throws {
    // tee copies its 1 MiB input to stdout and stderr while it is still being written.
    let input = Data((0..<Self.mebibyte).map { UInt8(truncatingIfNeeded: $0 % 251) })
    let result = try Self.unlessItHangs {
      try ChildProcess.run(Self.shell, ["-c", "tee /dev/stderr"], stdin: input)
    }
    #expect(result.status == 0, "\(result.stderrText.prefix(200))")
    #expect(result.stdout == input)
    #expect(result.stderr == input)
  }

  @Test func aChildThatIgnoresItsInputDoesNotStopTheTests() throws {
    // The child exits without reading 1 MiB of input: writing the rest fails with EPIPE, which
    // must neither kill the test process (SIGPIPE) nor fail the run.
    let input = Data(count: Self.mebibyte)
    let result = try Self.unlessItHangs {
      try ChildProcess.run(Self.shell, ["-c", "echo done"], stdin: input)
    }
    #expect(result.status == 0 && result.stdoutText == "done\n")
  }

  @Test func rnnkitReportingMoreThanAPipeOfProgressFinishes() throws {
    // Off a terminal, train prints one line per epoch to stderr and its summary to stdout only at
    // the end: 2,000 epochs of a tiny model are well over 64 KiB of stderr.
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let corpus = folder.appendingPathComponent("corpus.txt")
    try Data("a b a c\nb a c a\n".utf8).write(to: corpus)
    let output = folder.appendingPathComponent("m.rnn").path
    let result = try Self.unlessItHangs {
      try CLI.run(["train", corpus.path, "-o", output, "--hidden", "2", "--epochs", "2000"])
    }
    #expect(result.status == 0, "\(result.stderr.suffix(500))")
    #expect(result.stderr.utf8.count > 64 * 1024)
    #expect(result.stderr.split(separator: "\n").count == 2000)
    #expect(result.stdout.hasPrefix("wrote \(output): H 2"), "\(result.stdout)")
  }
}

/// The runner was still waiting for its child after two minutes.
struct Deadlock: Error, CustomStringConvertible {
  var description: String { "still waiting for the child after two minutes: the runner deadlocked" }
}
