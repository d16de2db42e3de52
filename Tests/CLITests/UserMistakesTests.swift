import Foundation
import Testing

/// The usual mistakes, end to end: each is one line on stderr (plus usage lines for a usage error),
/// the documented exit status, and nothing written.
@Suite struct UserMistakesTests {
  @Test func commonMistakesGetOneClearLine() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = CLI.fixture("cuisine.rnn")
    let text = folder.appendingPathComponent("notes.txt").path
    try "hello there\n".write(toFile: text, atomically: true, encoding: .utf8)
    let empty = folder.appendingPathComponent("empty.txt").path
    try Data().write(to: URL(fileURLWithPath: empty))
    let latin1 = folder.appendingPathComponent("latin1.txt").path
    try Data([0xFF, 0xFE, 0x20, 0x61, 0x0A]).write(to: URL(fileURLWithPath: latin1))
    let cases: [([String], Int32, String)] = [
      (["predict", folder.appendingPathComponent("nope.rnn").path, "x"], 1, "no such file"),
      (["predict", folder.path, "x"], 1, "is a directory"),
      (["inspect", text], 1, "cannot tell the format"),
      (["predict", model, ""], 1, "the input is empty"),
      (["score", model, empty], 1, "no line has the 2 tokens"),
      (["score", model, latin1], 1, "not valid UTF-8"),
      (["generate", model, "sushi", "--max-tokens", "-1"], 64, "--max-tokens must be 0 or more"),
      (["predict", model, "sushi", "--top", "0"], 64, "--top"),
      (["predict", model, "sushi", "--top", "-3"], 64, "--top"),
      (["convert", model, folder.appendingPathComponent("no/such/folder/m.rnn").path], 1, "does not exist"),
    ]
    for (arguments, status, mention) in cases {
      let result = try CLI.run(arguments)
      #expect(result.status == status, "\(arguments): \(result.stderr)")
      let first = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
      #expect(first.contains(mention), "\(arguments): \(result.stderr)")
      if status == 1 {
        #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
      }
    }
    // All-unknown text still runs, and says so on stderr.
    let unknown = try CLI.run(["predict", model, "zzz qqq"])
    #expect(unknown.status == 0)
    #expect(unknown.stderr.contains("2 words are not in the vocabulary"), "\(unknown.stderr)")
    let strict = try CLI.run(["predict", model, "zzz qqq", "--strict"])
    #expect(strict.status == 1, "\(strict.stderr)")
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        == ["empty.txt", "latin1.txt", "notes.txt"])
  }
}
