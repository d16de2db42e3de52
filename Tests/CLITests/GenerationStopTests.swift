import Foundation
import Testing

/// Generation can stop: at `--stop STRING`, and at the end-of-sequence token `train` adds to every
/// line (the committed cuisine model has one).
@Suite struct GenerationStopTests {
  @Test func generationStopsAtTheStopString() throws {
    let model = CLI.fixture("cuisine.rnn")
    let prompt = "my favourite dish is pizza."
    let free = try CLI.run(["generate", model, prompt, "--max-tokens", "20", "--temperature", "0", "--json"])
    let stopped = try CLI.run([
      "generate", model, prompt, "--max-tokens", "20", "--temperature", "0", "--stop", ".", "--json",
    ])
    #expect(free.status == 0 && stopped.status == 0, "\(stopped.stderr)")
    func field(_ text: String, _ key: String) throws -> Any? {
      try (JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?[key]
    }
    let all = try #require(try field(free.stdout, "generated") as? [Int])
    let cut = try #require(try field(stopped.stdout, "generated") as? [Int])
    let text = try #require(try field(stopped.stdout, "text") as? String)
    // A prefix of the free run, ending at the first generated ".".
    #expect(cut.count < all.count && Array(all.prefix(cut.count)) == cut)
    #expect(text.hasSuffix(".") && text.dropFirst(prompt.count).filter { $0 == "." }.count == 1, "\(text)")
  }

  @Test func trainEndsEveryLineAndGenerateStopsThere() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let corpus = folder.appendingPathComponent("c.txt").path
    try "the cat sat .\nthe dog ran .\n".write(toFile: corpus, atomically: true, encoding: .utf8)
    let with = folder.appendingPathComponent("eos.rnn").path
    let without = folder.appendingPathComponent("plain.rnn").path
    #expect(try CLI.run(["train", corpus, "-o", with, "--hidden", "4", "--epochs", "1"]).status == 0)
    #expect(
      try CLI.run(["train", corpus, "-o", without, "--hidden", "4", "--epochs", "1", "--no-eos"]).status == 0)
    let vocabulary = try CLI.run(["vocab", with]).stdout.split(separator: "\n")
    #expect(vocabulary.last == "</s>" && vocabulary.count == 8, "\(vocabulary)")
    #expect(!(try CLI.run(["vocab", without]).stdout.contains("</s>")))
    let inspect = try CLI.run(["inspect", with])
    #expect(inspect.stdout.contains("tokenizer.end_of_sequence"), "\(inspect.stdout)")

    // The cuisine model ends its sentence: greedy generation stops at </s>, which the text leaves out.
    let model = CLI.fixture("cuisine.rnn")
    let run = try CLI.run([
      "generate", model, "my favourite dish is pizza.", "--max-tokens", "40", "--temperature", "0", "--json",
    ])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    let generated = try #require(object["generated"] as? [Int])
    let endID = try CLI.run(["vocab", model]).stdout.split(separator: "\n").firstIndex(of: "</s>")
    #expect(generated.count < 40 && generated.last == endID, "\(generated)")
    #expect(object["text"] as? String == "my favourite dish is pizza. so, my favourite cuisine is italian.")
    // The HDF5 export keeps the token, so the fixture pair still agrees exactly.
    #expect(try CLI.run(["diff", model, CLI.fixture("cuisine.h5")]).status == 0)
  }
}
