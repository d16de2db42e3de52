import Foundation

/// How the hidden units behave on sample text: how often each is saturated, and how the gradient
/// ∂h_T/∂h_t shrinks or grows with the distance T − t.
///
/// The hidden states come from the runtime (``InferenceSession``). The Jacobian of one step is
/// ∂h_t/∂h_{t−1} = diag(f′(a_t))·W_h with a_t = W_h·h_{t−1} + W_x·x_t + b, so the pre-activations
/// are recomputed here from the runtime's states. Products of Jacobians are never formed: random
/// unit vectors u are carried backwards instead, and ‖uᵀ·∂h_T/∂h_t‖ averaged over u estimates
/// ‖∂h_T/∂h_t‖_F / √H, the root-mean-square of its singular values.
struct ActivationStatistics: Sendable {
  /// A unit counts as saturated at a step when |f′(a)| is below this: its gradient is cut tenfold.
  static let saturationThreshold = 0.1

  /// How many tokens were run.
  var tokens: Int
  /// Words of the text that are not in the vocabulary and were left out (no unknown token).
  var skippedWords: Int
  /// Whether the text was longer than the limit and cut.
  var truncated: Bool
  /// Per hidden unit: the fraction of steps at which |f′(a)| < ``saturationThreshold``.
  var saturation: [Double]
  /// Per hidden unit: the mean of |h_t|.
  var meanMagnitude: [Double]
  /// Index d − 1: the mean of ‖uᵀ·∂h_T/∂h_{T−d}‖ over end points T and probes u.
  var gradientNorms: [Double]
  /// Index d − 1: the smallest and largest of those norms.
  var gradientRange: [(Double, Double)]
  /// How many end points T were averaged.
  var endPoints: Int
  /// How many random vectors u were carried back from each end point.
  var probes: Int
  /// The step at which the hidden state became non-finite, which ended the run.
  var nonFiniteStep: Int?

  /// Runs `ids` (at most `maxTokens` of them) through the model.
  static func compute(
    model: ElmanModel, inference: InferenceModel, ids allIDs: [Int], skippedWords: Int, maxTokens: Int,
    maxDistance: Int = 100, endPoints wantedEndPoints: Int = 8, probes: Int = 4
  ) throws(RuntimeError) -> ActivationStatistics {
    let ids = Array(allIDs.prefix(maxTokens))
    let trace = try Trace(model: model, inference: inference, ids: ids)
    let (h, steps) = (trace.hiddenSize, trace.steps)

    var saturated = [Int](repeating: 0, count: h)
    var magnitude = [Double](repeating: 0, count: h)
    for t in stride(from: 1, through: steps, by: 1) {
      for i in 0..<h {
        if abs(trace.derivatives[(t - 1) * h + i]) < Float(saturationThreshold) { saturated[i] += 1 }
        magnitude[i] += Double(abs(trace.states[t][i]))
      }
    }

    // Gradients carried back from end points spread over the run.
    let distance = min(maxDistance, steps)
    var sums = [Double](repeating: 0, count: distance)
    var range = [(Double, Double)](repeating: (.infinity, 0), count: distance)
    var endPointCount = 0
    if distance >= 1 {
      let candidates = steps - distance + 1
      let count = min(wantedEndPoints, candidates)
      let ends = (0..<count).map { k in
        distance + (count > 1 ? k * (candidates - 1) / (count - 1) : candidates - 1)
      }
      endPointCount = ends.count
      var generator = SplitMix64(seed: 0xACE)
      for end in ends {
        for _ in 0..<probes {
          // A random unit vector u.
          var u = (0..<h).map { _ in Float(generator.nextUnit() - 0.5) }
          let norm = u.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
          u = u.map { $0 / Float(max(norm, 1e-30)) }
          trace.carryBack(u, from: end, distance: distance) { d, g in
            let n = g.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            sums[d - 1] += n
            range[d - 1] = (min(range[d - 1].0, n), max(range[d - 1].1, n))
          }
        }
      }
    }
    let samples = Double(max(1, endPointCount * probes))
    return ActivationStatistics(
      tokens: steps, skippedWords: skippedWords, truncated: allIDs.count > maxTokens,
      saturation: saturated.map { steps > 0 ? Double($0) / Double(steps) : 0 },
      meanMagnitude: magnitude.map { steps > 0 ? $0 / Double(steps) : 0 },
      gradientNorms: sums.map { $0 / samples }, gradientRange: range, endPoints: endPointCount,
      probes: probes, nonFiniteStep: trace.nonFiniteStep)
  }

  /// One run of a token sequence: h_t from the runtime, and f′(a_t) recomputed from them.
  struct Trace {
    let hiddenSize: Int
    /// states[t] is h_t; states[0] = h_0 = 0.
    private(set) var states: [[Float]]
    /// Row t − 1 holds f′(a_t).
    private(set) var derivatives: [Float]
    /// W_h, row-major.
    private(set) var recurrent: [Float]
    /// The step at which the hidden state became non-finite, which ended the run.
    private(set) var nonFiniteStep: Int?

    var steps: Int { states.count - 1 }

    init(model: ElmanModel, inference: InferenceModel, ids: [Int]) throws(RuntimeError) {
      let h = model.hiddenSize
      let width = h + model.inputSize
      hiddenSize = h
      var session = InferenceSession(model: inference)
      var states = [session.hidden]
      for id in ids {
        do {
          try session.advance(token: id)
        } catch .nonFiniteHidden(let step, _) {
          nonFiniteStep = step + 1
          break
        }
        states.append(session.hidden)
      }
      self.states = states
      let steps = states.count - 1

      // W_h and its transpose (so that both W_h·v and vᵀ·W_h are sums of rows), W_x's columns, b.
      var recurrent = [Float](repeating: 0, count: h * h)
      var transposed = [Float](repeating: 0, count: h * h)
      var inputColumns = [Float](repeating: 0, count: steps * h)
      model.W.withFloats { w in
        for i in 0..<h {
          for j in 0..<h {
            recurrent[i * h + j] = w[i * width + j]
            transposed[j * h + i] = w[i * width + j]
          }
          for t in 0..<steps { inputColumns[t * h + i] = w[i * width + h + ids[t]] }
        }
      }
      self.recurrent = recurrent
      let bias = model.b.floats()
      let f = model.hiddenActivation

      // a_t = W_h·h_{t−1} + W_x·x_t + b, then f′(a_t).
      var derivatives = [Float](repeating: 0, count: steps * h)
      var a = [Float](repeating: 0, count: h)
      transposed.withUnsafeBufferPointer { wT in
        for t in stride(from: 1, through: steps, by: 1) {
          let previous = states[t - 1]
          for i in 0..<h { a[i] = bias[i] + inputColumns[(t - 1) * h + i] }
          for j in 0..<h where previous[j] != 0 {
            let c = previous[j]
            let row = wT.baseAddress! + j * h
            for i in 0..<h { a[i] += c * row[i] }
          }
          let current = states[t]
          for i in 0..<h {
            derivatives[(t - 1) * h + i] = Float(f.derivative(x: Double(a[i]), y: Double(current[i])))
          }
        }
      }
      self.derivatives = derivatives
    }

    /// Carries uᵀ back from h_end: calls `visit(d, uᵀ·∂h_end/∂h_{end−d})` for d = 1 … `distance`.
    /// Each step is gᵀ ← (g ⊙ f′(a_t))ᵀ·W_h with t = end − d + 1.
    func carryBack(_ u: [Float], from end: Int, distance: Int, _ visit: (Int, [Float]) -> Void) {
      precondition(end <= steps && distance <= end && u.count == hiddenSize, "outside the run")
      let h = hiddenSize
      var g = u
      var next = [Float](repeating: 0, count: h)
      recurrent.withUnsafeBufferPointer { wh in
        for d in stride(from: 1, through: distance, by: 1) {
          let t = end - d + 1
          for i in 0..<h { next[i] = 0 }
          for i in 0..<h {
            let c = g[i] * derivatives[(t - 1) * h + i]
            if c == 0 { continue }
            let row = wh.baseAddress! + i * h
            for j in 0..<h { next[j] += c * row[j] }
          }
          swap(&g, &next)
          visit(d, g)
        }
      }
    }
  }

  // MARK: Reading and pictures

  /// The first distance at which the mean gradient norm leaves [10⁻³, 10³], with a sentence.
  var gradientReading: (text: String, healthy: Bool) {
    guard !gradientNorms.isEmpty else { return ("Too few tokens to follow a gradient back.", true) }
    if let d = gradientNorms.firstIndex(where: { !$0.isFinite }) {
      return (
        "The gradient is NaN or infinite \(d + 1) step\(d == 0 ? "" : "s") back: the weights or the hidden states hold non-finite values.",
        false
      )
    }
    if let d = gradientNorms.firstIndex(where: { $0 < 1e-3 }) {
      return (
        "Vanishing gradients: after \(d + 1) step\(d == 0 ? "" : "s") back the mean norm is below 10⁻³, so what the model saw more than about \(d + 1) tokens ago barely changes its training signal.",
        false
      )
    }
    if let d = gradientNorms.firstIndex(where: { $0 > 1e3 }) {
      return (
        "Exploding gradients: after \(d + 1) step\(d == 0 ? "" : "s") back the mean norm is above 10³; training needs gradient clipping.",
        false
      )
    }
    let last = gradientNorms.last!
    return (
      "Over \(gradientNorms.count) steps the mean norm stays between 10⁻³ and 10³ (it ends at \(HTML.number(last, digits: 3))): neither vanishing nor exploding over this range.",
      true
    )
  }

  func html(model: ElmanModel, sampleName: String) -> String {
    var out =
      "<p>Sample: <code>\(HTML.text(sampleName))</code>, \(HTML.integer(tokens)) tokens run as one sequence"
    if truncated { out += " (the text was longer; only its first \(HTML.integer(tokens)) tokens were used)" }
    if skippedWords > 0 { out += "; \(HTML.integer(skippedWords)) words not in the vocabulary were left out" }
    out += ".</p>"
    if let nonFiniteStep {
      out +=
        "<p class=\"reading warn\">The hidden state became NaN or infinite at step \(HTML.integer(nonFiniteStep)); the statistics cover the steps before it.</p>"
    }
    guard tokens > 0 else { return out }

    let h = saturation.count
    let mostly = saturation.filter { $0 > 0.5 }.count
    let never = saturation.filter { $0 == 0 }.count
    let overall = saturation.reduce(0, +) / Double(max(h, 1))
    out += "<h3>Saturation of h<sub>t</sub> per unit</h3>"
    let plot = Plot(
      width: 1080, height: 200,
      x: Plot.Axis(lower: 0, upper: Double(h), label: "hidden unit"),
      y: Plot.Axis(lower: 0, upper: 1, label: "fraction saturated"))
    let barWidth = plot.plotWidth / Double(max(h, 1))
    var bars = "<g fill=\"#b2182b\">"
    for (i, s) in saturation.enumerated() where s > 0 {
      let y = plot.py(s)
      bars +=
        "<rect x=\"\(HTML.coordinate(plot.px(Double(i))))\" y=\"\(HTML.coordinate(y))\" width=\"\(HTML.coordinate(max(barWidth - (barWidth > 3 ? 1 : 0), 0.5)))\" height=\"\(HTML.coordinate(plot.py(0) - y))\"/>"
    }
    bars += "</g><g fill=\"none\" stroke=\"#2166ac\" stroke-width=\"1\">"
    bars += plot.line(
      meanMagnitude.enumerated().map { (Double($0) + 0.5, min($1, 1)) }, color: "#2166ac", width: 1)
    bars += "</g>"
    out += "<figure>" + plot.svg(id: "saturation", label: "saturation per hidden unit", content: bars)
    out +=
      "<figcaption>Red bars: the fraction of steps at which unit i is saturated, that is |f′(a)| &lt; \(HTML.number(Self.saturationThreshold)) (for \(HTML.escape(model.hiddenActivation.rawValue))\(Self.saturationMeaning(model.hiddenActivation))). Blue line: the mean |h<sub>t,i</sub>|, capped at 1.</figcaption></figure>"
    let tone = overall > 0.5 ? "warn" : "ok"
    out +=
      "<p class=\"reading \(tone)\">On average a unit is saturated at \(HTML.number(overall * 100, digits: 3))% of steps; \(HTML.integer(mostly)) of \(HTML.integer(h)) units are saturated more than half the time and \(HTML.integer(never)) never are."
      + (overall > 0.5 ? " Saturated units pass almost no gradient, which slows or stalls training." : "")
      + "</p>"

    guard !gradientNorms.isEmpty else { return out }
    out += "<h3>Gradient norm over distance</h3>"
    let values = gradientNorms + gradientRange.flatMap { [$0.0, $0.1] }
    let positive = values.filter { $0 > 0 && $0.isFinite }
    let lower = min(positive.min() ?? 1e-3, 1e-3) / 2
    let upper = max(positive.max() ?? 1, 1) * 2
    let g = Plot(
      width: 640, height: 240,
      x: Plot.Axis(lower: 0, upper: Double(gradientNorms.count), label: "distance T − t (steps)"),
      y: Plot.Axis(lower: lower, upper: upper, logarithmic: true, label: "‖uᵀ ∂h_T/∂h_t‖"))
    var content = g.reference(y: 1, label: "1", color: "#5b6475")
    // The band between the smallest and largest norm, then the mean.
    if gradientRange.allSatisfy({ $0.0.isFinite && $0.1.isFinite }) {
      let top = gradientRange.enumerated().map { (Double($0 + 1), max($1.1, lower)) }
      let bottom = gradientRange.enumerated().reversed().map { (Double($0 + 1), max($1.0, lower)) }
      let band = (top + bottom).map { "\(HTML.coordinate(g.px($0.0))),\(HTML.coordinate(g.py($0.1)))" }
      content += "<polygon fill=\"#2b5fab\" fill-opacity=\"0.15\" points=\"\(band.joined(separator: " "))\"/>"
    }
    content += g.line(
      [(0, 1)] + gradientNorms.enumerated().map { $1.isFinite ? (Double($0 + 1), max($1, lower)) : nil },
      color: "#2b5fab", width: 2)
    out += "<figure>" + g.svg(id: "gradient-norms", label: "gradient norm against distance", content: content)
    out +=
      "<figcaption>Mean of ‖uᵀ·∂h<sub>T</sub>/∂h<sub>t</sub>‖ for random unit vectors u (\(probes) per end point) at \(endPoints) end points T spread over the sample; the band spans the smallest to the largest. This estimates ‖∂h<sub>T</sub>/∂h<sub>t</sub>‖<sub>F</sub>/√H.</figcaption></figure>"
    let reading = gradientReading
    out += "<p class=\"reading \(reading.healthy ? "ok" : "warn")\">\(HTML.escape(reading.text))</p>"
    return out
  }

  static func saturationMeaning(_ f: HiddenActivation) -> String {
    switch f {
    case .tanh: return ": |h| above 0.95"
    case .sigmoid: return ": h below 0.113 or above 0.887"
    case .relu: return ": a ≤ 0, the unit is off"
    case .identity: return ", which never saturates"
    case .softsign: return ": |h| above 0.68"
    case .softplus: return ": a below −2.2"
    case .elu: return ": h below −0.9"
    case .silu: return ": a below about −0.92"
    }
  }
}
