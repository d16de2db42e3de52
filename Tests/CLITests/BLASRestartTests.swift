import Foundation
import Testing

/// `rnnkit` restarts itself with a better OpenBLAS kernel set when Debian's OpenBLAS falls back to
/// generic kernels (docs/PERFORMANCE.md). Both kernel sets must give the same results.
@Suite struct BLASRestartTests {
  @Test func scoresAgreeWithAndWithoutTheRestart() throws {
    let arguments = ["score", CLI.fixture("cuisine.rnn"), CLI.fixture("corpus/cuisine.txt"), "--json"]
    let tuned = try CLI.run(arguments, blasRestart: true)
    let generic = try CLI.run(arguments)
    #expect(tuned.status == 0 && generic.status == 0, "\(tuned.stderr) \(generic.stderr)")
    func crossEntropy(_ output: String) throws -> Double {
      let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
      return (object["cross_entropy"] as? Double) ?? (object["cross_entropy_nats"] as! Double)
    }
    let a = try crossEntropy(tuned.stdout)
    let b = try crossEntropy(generic.stdout)
    // Different kernels sum in different orders: agreement to 1e-5 relative is float32 rounding.
    #expect(abs(a - b) <= 1e-5 * abs(b), "\(a) vs \(b)")
  }

  @Test func predictAgreesWithAndWithoutTheRestart() throws {
    let arguments = [
      "predict", CLI.fixture("cuisine.rnn"), "My favourite dish is sushi. So, my favourite cuisine is",
      "--top", "3",
    ]
    let tuned = try CLI.run(arguments, blasRestart: true)
    let generic = try CLI.run(arguments)
    #expect(tuned.status == 0 && generic.status == 0)
    #expect(tuned.stdout.split(separator: "\n").dropFirst().first?.hasPrefix("\"japanese\"") == true)
    let firstColumn = { (s: String) in s.split(separator: "\n").map { $0.split(separator: " ").first ?? "" } }
    #expect(firstColumn(tuned.stdout) == firstColumn(generic.stdout))
  }
}
