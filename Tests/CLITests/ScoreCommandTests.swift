import Foundation
import Testing

@Suite struct ScoreCommandTests {
  func score(_ text: String, _ extra: [String] = []) throws -> [String: Any] {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("text.txt")
    try Data(text.utf8).write(to: path)
    let result = try CLI.run(["score", CLI.fixture("cuisine.rnn"), path.path, "--json"] + extra)
    #expect(result.status == 0, "\(result.stderr)")
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
  }

  @Test func eachLineIsASequenceLikeInTraining() throws {
    let lines = [
      "My favourite dish is sushi. So, my favourite cuisine is japanese.",
      "We ate croissant at a french restaurant.",
    ]
    let both = try score(lines.joined(separator: "\n") + "\n")
    let first = try score(lines[0])
    let second = try score(lines[1])
    #expect(both["sequences"] as? Int == 2)
    let all = both["log_probabilities"] as! [Double]
    let separate = (first["log_probabilities"] as! [Double]) + (second["log_probabilities"] as! [Double])
    #expect(all.count == separate.count)
    // The same computation in a batch and one by one: equal to float32 rounding.
    for (a, b) in zip(all, separate) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
    // The trained model knows its corpus: far below the uniform perplexity of 174.
    #expect((both["perplexity"] as! Double) < 3)
  }

  @Test func continuousCarriesTheStateAcrossLines() throws {
    let text = "We ate croissant at a french restaurant.\nWe ate croissant at a french restaurant.\n"
    let perLine = try score(text)
    let continuous = try score(text, ["--continuous"])
    #expect(perLine["sequences"] as? Int == 2 && continuous["sequences"] as? Int == 1)
    // One more token is predicted: the second line's first, from the end of the first line.
    #expect((continuous["predicted"] as! Int) == (perLine["predicted"] as! Int) + 1)
  }
}
