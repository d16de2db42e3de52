import Foundation
import Numerics
import RNNFormat
import RNNModel
import Testing

@testable import RNNRuntime

/// Compares float results to a double reference: |a - b| <= max(abs, rel * max(|a|, |b|)).
func expectClose(
  _ actual: [[Float]], _ expected: [[Double]], absolute: Double = 1e-5, relative: Double = 1e-4,
  _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(
    actual.count == expected.count, "\(what): \(actual.count) rows, expected \(expected.count)",
    sourceLocation: sourceLocation)
  var worst = 0.0
  var failures = 0
  for (row, (a, e)) in zip(actual, expected).enumerated() {
    #expect(a.count == e.count, "\(what) row \(row) size", sourceLocation: sourceLocation)
    for (i, (p, q)) in zip(a, e).enumerated()
    where !Double(p).isApproximatelyEqual(to: q, absoluteTolerance: absolute, relativeTolerance: relative) {
      failures += 1
      if failures <= 3 {
        Issue.record("\(what)[\(row)][\(i)] = \(p), expected \(q)", sourceLocation: sourceLocation)
      }
      worst = max(worst, abs(Double(p) - q))
    }
  }
  #expect(failures == 0, "\(what): \(failures) values off, worst by \(worst)", sourceLocation: sourceLocation)
}

func doubles(_ rows: [[Float]]) -> [[Double]] { rows.map { $0.map(Double.init) } }

@Suite struct ForwardTests {
  static let pairs: [(HiddenActivation, OutputActivation)] = HiddenActivation.allCases.flatMap { f in
    OutputActivation.allCases.map { (f, $0) }
  }

  // Odd sizes exercise the vector kernels' remainder paths; tolerance abs 1e-5, rel 1e-4.
  @Test(arguments: pairs)
  func tokenInputsMatchDoubleReference(f: HiddenActivation, g: OutputActivation) throws {
    let model = try TestModels.make(h: 19, x: 23, f: f, g: g, seed: 7, scale: 0.3)
    let runtime = try InferenceModel(model)
    let tokens = [3, 0, 22, 5, 5, 17, 1, 9, 12, 4, 0, 21]
    let result = try runtime.forward(tokens: tokens)
    let reference = Reference(model).run(tokens: tokens)
    expectClose(result.hidden, reference.hidden, "\(f)/\(g) hidden")
    expectClose(result.outputs, reference.outputs, "\(f)/\(g) outputs")
  }

  @Test(arguments: pairs)
  func denseInputsMatchDoubleReference(f: HiddenActivation, g: OutputActivation) throws {
    let model = try TestModels.make(h: 21, x: 11, o: 6, f: f, g: g, kind: .dense, seed: 11, scale: 0.3)
    let runtime = try InferenceModel(model)
    var random = TestRandom(5)
    let vectors = (0..<9).map { _ in random.floats(11, scale: 1) }
    let result = try runtime.forward(vectors: vectors)
    let reference = Reference(model).run(vectors.map { $0.map(Double.init) })
    expectClose(result.hidden, reference.hidden, "\(f)/\(g) hidden")
    expectClose(result.outputs, reference.outputs, "\(f)/\(g) outputs")
  }

  // Sizes past the vector widths, with a one-token sequence and a longer one.
  @Test func largerModelMatchesReference() throws {
    let model = try TestModels.make(h: 67, x: 101, o: 101, seed: 3, scale: 0.2)
    let runtime = try InferenceModel(model)
    for tokens in [[42], (0..<40).map { ($0 * 37) % 101 }] {
      let result = try runtime.forward(tokens: tokens)
      let reference = Reference(model).run(tokens: tokens)
      expectClose(result.hidden, reference.hidden, "hidden")
      expectClose(result.outputs, reference.outputs, "outputs")
    }
  }

  @Test func tokenBatchEqualsSequences() throws {
    let model = try TestModels.make(h: 33, x: 29, seed: 5, scale: 0.3)
    let runtime = try InferenceModel(model)
    var random = TestRandom(9)
    let batch = [7, 1, 15, 3, 15, 9, 2].map { length in (0..<length).map { _ in random.int(29) } }
    let together = try runtime.forward(batch: batch)
    #expect(together.count == batch.count)
    for (i, sequence) in batch.enumerated() {
      let alone = try runtime.forward(tokens: sequence)
      // Batched steps use a matrix product instead of a matrix-vector one: rounding may differ.
      expectClose(
        together[i].hidden, doubles(alone.hidden), absolute: 1e-6, relative: 1e-5, "sequence \(i) hidden")
      expectClose(
        together[i].outputs, doubles(alone.outputs), absolute: 1e-6, relative: 1e-5, "sequence \(i) outputs")
    }
  }

  @Test func denseBatchEqualsSequences() throws {
    let model = try TestModels.make(
      h: 17, x: 5, o: 3, f: .relu, g: .sigmoid, kind: .dense, seed: 4, scale: 0.4)
    let runtime = try InferenceModel(model)
    var random = TestRandom(2)
    let batch = [4, 9, 1, 6].map { length in (0..<length).map { _ in random.floats(5, scale: 1) } }
    let together = try runtime.forward(vectorBatch: batch)
    for (i, sequence) in batch.enumerated() {
      let alone = try runtime.forward(vectors: sequence)
      expectClose(
        together[i].hidden, doubles(alone.hidden), absolute: 1e-6, relative: 1e-5, "sequence \(i) hidden")
      expectClose(
        together[i].outputs, doubles(alone.outputs), absolute: 1e-6, relative: 1e-5, "sequence \(i) outputs")
    }
  }

  @Test func sessionStreamsTheSameSteps() throws {
    let model = try TestModels.make(h: 24, x: 13, seed: 8, scale: 0.3)
    let runtime = try InferenceModel(model)
    let tokens = [1, 2, 3, 12, 0, 7]
    let whole = try runtime.forward(tokens: tokens)
    var session = InferenceSession(model: runtime)
    for (t, token) in tokens.enumerated() {
      let y = try session.feed(token: token)
      expectClose(
        [session.hidden], doubles([whole.hidden[t]]), absolute: 1e-6, relative: 1e-5, "h at step \(t)")
      expectClose([y], doubles([whole.outputs[t]]), absolute: 1e-6, relative: 1e-5, "y at step \(t)")
    }
    #expect(session.steps == tokens.count)

    // A copy is an independent branch.
    var branch = session
    try branch.feed(token: 4)
    #expect(branch.hidden != session.hidden)
    #expect(session.steps == tokens.count)

    // Restoring a saved state continues as if never interrupted.
    let saved = session.hidden
    var other = InferenceSession(model: runtime)
    try other.restore(hidden: saved)
    let continued = try other.feed(token: 4)
    let direct = try runtime.forward(tokens: tokens + [4]).outputs.last!
    expectClose([continued], doubles([direct]), absolute: 1e-6, relative: 1e-5, "restored")

    session.reset()
    #expect(session.steps == 0)
    #expect(session.hidden.allSatisfy { $0 == 0 })
    let again = try session.feed(token: tokens[0])
    expectClose([again], doubles([whole.outputs[0]]), absolute: 1e-6, relative: 1e-5, "after reset")
    #expect(throws: RuntimeError.wrongStateSize(found: 3, expected: 24)) {
      try other.restore(hidden: [1, 2, 3])
    }
  }

  @Test func denseSessionMatchesForward() throws {
    let model = try TestModels.make(h: 9, x: 4, o: 2, f: .sigmoid, g: .identity, kind: .dense, seed: 12)
    let runtime = try InferenceModel(model)
    let vectors: [[Float]] = [[1, 0, -1, 0.5], [0.25, 0.5, 2, -3], [0, 0, 0, 0]]
    let whole = try runtime.forward(vectors: vectors)
    var session = InferenceSession(model: runtime)
    for (t, vector) in vectors.enumerated() {
      let y = try session.feed(vector: vector)
      expectClose([y], doubles([whole.outputs[t]]), absolute: 1e-6, relative: 1e-5, "y at step \(t)")
    }
  }
}
