import RNNModel
import RNNRuntime

/// The result of running two models on the same inputs.
public struct VerificationReport: Sendable, Codable, Equatable {
  /// The largest output difference: relative where the value is above 1, absolute below.
  public var largestDifference: Double
  /// How many input sequences were compared.
  public var sequences: Int
  /// The difference allowed.
  public var tolerance: Double
  /// Where ``largestDifference`` was found; nil when every output agreed exactly.
  public var position: OutputPosition?
  /// Whether ``largestDifference`` is within ``tolerance``.
  public var passed: Bool { largestDifference <= tolerance }
}

/// One output value of a verification run: which sequence, which step of it, which output unit.
public struct OutputPosition: Sendable, Codable, Equatable {
  /// The sequence, counted from 0.
  public var sequence: Int
  /// Its length in steps.
  public var length: Int
  /// The step, counted from 0.
  public var step: Int
  /// The output unit (index into y_t), counted from 0.
  public var output: Int
  /// The source model's value there.
  public var expected: Float
  /// The converted model's value there.
  public var found: Float

  /// A position and the two values found there.
  public init(sequence: Int, length: Int, step: Int, output: Int, expected: Float, found: Float) {
    self.sequence = sequence
    self.length = length
    self.step = step
    self.output = output
    self.expected = expected
    self.found = found
  }
}

/// Checks a conversion by a forward pass: the source and the result run on the same sequences and
/// their outputs are compared. This is what `rnnkit convert --verify` reports.
public enum ModelVerification {
  /// The tolerance for a result stored in `dtype`: f32 and f64 are exact up to summation order,
  /// half-precision formats lose about 3 decimal digits (f16) or 2 (bf16), as does an int8 V.
  public static func tolerance(for dtype: DType) -> Double {
    switch dtype {
    case .f16: return 1e-2
    case .bf16: return 5e-2
    // Per-row int8 V: each weight is off by up to half its row's step (max|row| / 254).
    case .i8: return 5e-2
    default: return 1e-5
    }
  }

  /// Runs `source` and `result` on the same seeded sequences (lengths 1 to 16) and compares every
  /// output. Non-finite outputs must agree exactly (NaN with NaN, +inf with +inf).
  public static func compare(source: ElmanModel, result: ElmanModel, tolerance: Double) throws
    -> VerificationReport
  {
    let left = try InferenceModel(source)
    let right = try InferenceModel(result)
    var generator = SplitMix64(seed: 0x5EED)
    var largest = 0.0
    var position: OutputPosition?
    let lengths = [1, 2, 5, 9, 16]
    for (sequence, length) in lengths.enumerated() {
      let l: ForwardResult
      let r: ForwardResult
      if source.inputKind == .tokens {
        let tokens = (0..<length).map { _ in Int(generator.next() % UInt64(source.inputSize)) }
        l = try left.forward(tokens: tokens)
        r = try right.forward(tokens: tokens)
      } else {
        let vectors = (0..<length).map { _ in
          (0..<source.inputSize).map { _ in Float(generator.nextUnit()) * 2 - 1 }
        }
        l = try left.forward(vectors: vectors)
        r = try right.forward(vectors: vectors)
      }
      for (step, (xs, ys)) in zip(l.outputs, r.outputs).enumerated() {
        for (output, (x, y)) in zip(xs, ys).enumerated() {
          let difference: Double
          if !x.isFinite || !y.isFinite {
            difference = (x.isNaN && y.isNaN) || x == y ? 0 : .infinity
          } else {
            difference = abs(Double(x) - Double(y)) / max(1, abs(Double(x)))
          }
          // The first of equal differences is kept, so the position does not depend on ties.
          guard difference > largest else { continue }
          largest = difference
          position = OutputPosition(
            sequence: sequence, length: length, step: step, output: output, expected: x, found: y)
        }
      }
    }
    return VerificationReport(
      largestDifference: largest, sequences: lengths.count, tolerance: tolerance, position: position)
  }
}
