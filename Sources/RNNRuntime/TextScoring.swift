import RNNModel

/// A text scored under a model: how many tokens it had, how many sequences were scored, and the
/// pooled result.
public struct TextScore: Sendable, Equatable {
  /// Every token of the text.
  public var tokens: Int
  /// The sequences scored (lines with at least two tokens, or the whole text).
  public var sequences: Int
  /// The log-probabilities of every predicted token, pooled.
  public var result: ScoreResult
}

/// Why a text could not be scored.
public enum TextScoringError: Error, Sendable, CustomStringConvertible {
  /// A line (1-based; nil for the whole text) could not be tokenized.
  case untokenizable(line: Int?, RuntimeError)
  /// No sequence has the two tokens scoring needs (one given, one predicted).
  case nothingToScore(perLine: Bool)

  public var description: String {
    switch self {
    case .untokenizable(let line, let error): return (line.map { "line \($0): " } ?? "") + error.description
    case .nothingToScore(let perLine):
      return
        "no \(perLine ? "line" : "text") has the 2 tokens that scoring needs (one is given, one predicted)"
    }
  }
}

extension InferenceModel {
  /// Scores `text`: each line on its own from h_0 = 0, as training sees its corpus, or with
  /// `perLine` false the whole text as one sequence carrying the state across lines. Lines of
  /// fewer than two tokens have nothing to predict and are skipped.
  public func score(text: String, perLine: Bool = true) throws(TextScoringError) -> TextScore {
    let lines = perLine ? TextLines.split(text) : [Substring(text)]
    var sequences: [[Int]] = []
    var tokens = 0
    for (index, line) in lines.enumerated() {
      let ids: [Int]
      do {
        ids = try encode(String(line))
      } catch {
        throw .untokenizable(line: perLine ? index + 1 : nil, error)
      }
      tokens += ids.count
      if ids.count >= 2 { sequences.append(ids) }
    }
    guard !sequences.isEmpty else { throw .nothingToScore(perLine: perLine) }
    let scores: [ScoreResult]
    do {
      scores = try score(batch: sequences)
    } catch {
      throw .untokenizable(line: nil, error)
    }
    return TextScore(
      tokens: tokens, sequences: sequences.count,
      result: ScoreResult(logProbabilities: scores.flatMap(\.logProbabilities)))
  }
}
