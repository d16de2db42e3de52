import RNNModel

/// How two models differ: tensor by tensor, then metadata and vocabulary. This is what
/// `rnnkit diff` prints.
public struct ModelDifference: Sendable {
  /// One tensor's comparison.
  public struct Tensor: Sendable {
    /// W, b, V or c.
    public var name: String
    /// The shape in the first and in the second model.
    public var shapes: ([Int], [Int])
    /// The largest |a − b|; infinite when the shapes differ.
    public var maxAbsolute: Double
    /// The largest |a − b| / max(|a|, |b|); infinite when the shapes differ.
    public var maxRelative: Double
    /// Whether every value is equal within the tolerance.
    public var withinTolerance: Bool
  }

  /// The tolerance T the tensors were compared with.
  public var tolerance: Double
  /// W, b, V and c.
  public var tensors: [Tensor]
  /// Metadata keys whose values differ, with both values (nil when absent).
  public var metadata: [(key: String, a: String?, b: String?, isProvenance: Bool)]
  /// Vocabulary differences, one line each (at most ten ids are listed).
  public var vocabulary: [String]

  /// Equal within the tolerance, with the same activations, tokenizer, vocabulary and metadata
  /// apart from provenance (general.*), which a conversion changes by design.
  public var isEqual: Bool {
    tensors.allSatisfy(\.withinTolerance) && metadata.allSatisfy(\.isProvenance) && vocabulary.isEmpty
  }

  /// Compares `a` and `b`. Two values are equal within T when |a − b| ≤ T or
  /// |a − b| ≤ T·max(|a|, |b|); NaN equals NaN.
  public init(_ a: ElmanModel, _ b: ElmanModel, tolerance: Double) {
    self.tolerance = tolerance
    let pairs: [(String, Parameter, Parameter)] = [
      ("W", a.W, b.W), ("b", a.b, b.b), ("V", a.V, b.V), ("c", a.c, b.c),
    ]
    tensors = pairs.map { name, x, y in Self.compare(name, x, y, tolerance: tolerance) }
    let ma = a.containerMetadata
    let mb = b.containerMetadata
    metadata = (ma.keys + mb.keys.filter { ma[$0] == nil }).filter { ma[$0] != mb[$0] }.map { key in
      (key, ma[key].map { "\($0)" }, mb[key].map { "\($0)" }, key.hasPrefix("general."))
    }
    vocabulary = Self.vocabularyDifferences(a.vocabulary, b.vocabulary)
  }

  static func compare(_ name: String, _ x: Parameter, _ y: Parameter, tolerance: Double) -> Tensor {
    guard x.shape == y.shape else {
      return Tensor(
        name: name, shapes: (x.shape, y.shape), maxAbsolute: .infinity, maxRelative: .infinity,
        withinTolerance: false)
    }
    let (u, v) = (x.floats(), y.floats())
    var maxAbs = 0.0
    var maxRel = 0.0
    var within = true
    for i in 0..<u.count {
      let p = Double(u[i])
      let q = Double(v[i])
      if (p.isNaN && q.isNaN) || p == q { continue }
      let d = abs(p - q)
      let scale = max(abs(p), abs(q))
      let r = scale > 0 ? d / scale : 0
      // `!(x <= y)` so that a NaN difference counts as the largest.
      if !(d <= maxAbs) { maxAbs = d }
      if !(r <= maxRel) { maxRel = r }
      if !(d <= tolerance || d <= tolerance * scale) { within = false }
    }
    return Tensor(
      name: name, shapes: (x.shape, y.shape), maxAbsolute: maxAbs, maxRelative: maxRel,
      withinTolerance: within)
  }

  static func vocabularyDifferences(_ a: Vocabulary?, _ b: Vocabulary?) -> [String] {
    switch (a, b) {
    case (nil, nil): return []
    case (.some(let va), nil): return ["only the first model has a vocabulary (\(va.count) tokens)"]
    case (nil, .some(let vb)): return ["only the second model has a vocabulary (\(vb.count) tokens)"]
    case (.some(let va), .some(let vb)):
      var lines: [String] = []
      if va.count != vb.count { lines.append("sizes differ: \(va.count) vs \(vb.count)") }
      var shown = 0
      var differing = 0
      for id in 0..<min(va.count, vb.count) where va[id] != vb[id] {
        differing += 1
        if shown < 10 {
          lines.append("id \(id): \"\(displaySafe(va[id]))\" vs \"\(displaySafe(vb[id]))\"")
          shown += 1
        }
      }
      if differing > shown { lines.append("… \(differing - shown) more ids differ") }
      return lines
    }
  }
}
