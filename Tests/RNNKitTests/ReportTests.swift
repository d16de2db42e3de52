import Foundation
import Testing

@testable import RNNKit

/// A small model with uniform random weights in [−scale, scale).
private func model(
  h: Int, x: Int, f: HiddenActivation = .tanh, scale: Float = 0.5, seed: UInt64 = 1, tokens: [String]? = nil,
  unknown: String? = nil, name: String? = nil, bias: Float? = nil
) throws -> ElmanModel {
  var generator = SplitMix64(seed: seed)
  func floats(_ n: Int) -> [Float] { (0..<n).map { _ in Float(generator.nextUnit() * 2 - 1) * scale } }
  let b = bias.map { [Float](repeating: $0, count: h) } ?? floats(h)
  return try ElmanModel(
    W: Parameter(floats(h * (h + x)), shape: [h, h + x]), b: Parameter(b, shape: [h]),
    V: Parameter(floats(x * h), shape: [x, h]), c: Parameter(floats(x), shape: [x]), hiddenActivation: f,
    outputActivation: .softmax, inputKind: .tokens,
    vocabulary: Vocabulary(tokens ?? (0..<x).map { "t\($0)" }),
    tokenizer: TokenizerSettings(
      level: .word, lowercase: false, splitPunctuation: false, unknownToken: unknown),
    provenance: Provenance(name: name))
}

private func subject(_ model: ElmanModel, path: String = "model.rnn") -> ReportSubject {
  ReportSubject(model: model, path: path, format: "rnn", checksumsVerified: true)
}

/// Each cell of a heatmap SVG as drawn: the path strokes decoded back into (row, column) → colour.
private func drawnCells(_ svg: String) -> [Int: String] {
  var cells: [Int: String] = [:]
  let columns = Int(svg.firstMatch(of: /data-cell-cols="(\d+)"/)!.1)!
  for match in svg.matches(of: /<path stroke="(#[0-9a-f]{6})"[^>]* d="([^"]*)"/) {
    let colour = String(match.1)
    var x = 0
    var y = 0
    for command in String(match.2).matches(of: /([Mm])(-?\d+) (-?\d+)h(\d+)/) {
      let (dx, dy, length) = (Int(command.2)!, Int(command.3)!, Int(command.4)!)
      if command.1 == "M" { (x, y) = (dx, dy) } else { (x, y) = (x + dx, y + dy) }
      for c in x..<(x + length) { cells[y * columns + c] = colour }
      x += length
    }
  }
  return cells
}

@Suite struct HeatmapTests {
  @Test func blockMeansCoverTheMatrixInNearlyEqualBlocks() {
    // 5×7 into 2×2 cells: rows 0–1 | 2–4, columns 0–2 | 3–6 (⌊k·N/n⌋ boundaries).
    let values = (0..<35).map(Float.init)
    let grid = values.withUnsafeBufferPointer {
      HeatmapGrid(means: $0, stride: 7, columnOffset: 0, rows: 5, columns: 7, maxCells: 2)
    }
    #expect(grid.rows == 2 && grid.columns == 2)
    #expect(grid.blockRows == 2...3 && grid.blockColumns == 3...4)
    func mean(_ rows: Range<Int>, _ columns: Range<Int>) -> Double {
      let all = rows.flatMap { r in columns.map { Double(r * 7 + $0) } }
      return all.reduce(0, +) / Double(all.count)
    }
    #expect(grid.values == [mean(0..<2, 0..<3), mean(0..<2, 3..<7), mean(2..<5, 0..<3), mean(2..<5, 3..<7)])
  }

  @Test func aColumnRangeAndNonFiniteValues() {
    // The last 2 of 4 columns of a 2-row matrix, one NaN: that cell is marked, the other is the mean.
    let values: [Float] = [9, 9, 1, 2, 9, 9, .nan, 4]
    let grid = values.withUnsafeBufferPointer {
      HeatmapGrid(means: $0, stride: 4, columnOffset: 2, rows: 2, columns: 2, maxCells: 1)
    }
    #expect(grid.values.count == 1 && grid.values[0].isNaN && grid.nonFiniteCells == 1)
    let fine = values.withUnsafeBufferPointer {
      HeatmapGrid(means: $0, stride: 4, columnOffset: 2, rows: 1, columns: 2, maxCells: 1)
    }
    #expect(fine.values == [1.5] && fine.isPooled)
  }

  @Test func differencesKeepTheLargestChangeWithItsSign() {
    let a: [Float] = [1, 2, 3, 4, .nan, 6]
    let b: [Float] = [1, 2.5, 0, 4, .nan, 6]
    let grid = a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        HeatmapGrid(differenceOf: a, b, stride: 3, columnOffset: 0, rows: 2, columns: 3, maxCells: 1)
      }
    }
    #expect(grid.values == [-3])  // 0 − 3 outweighs 2.5 − 2; NaN against NaN is no difference
  }

  @Test func theSVGDrawsEveryCellInItsLevelsColour() {
    var generator = SplitMix64(seed: 4)
    let values = (0..<(9 * 13)).map { _ in Float(generator.nextUnit() * 2 - 1) } + [.infinity]
    let grid = values.withUnsafeBufferPointer {
      HeatmapGrid(means: $0, stride: 118, columnOffset: 0, rows: 1, columns: 118, maxCells: 256)
    }
    let limit = 0.8
    let svg = grid.svg(id: "h", label: "test", limit: limit, maxSide: 300)
    let drawn = drawnCells(svg)
    for (i, v) in grid.values.enumerated() {
      let expected: String
      if !v.isFinite {
        expected = HeatmapGrid.nonFiniteColour
      } else {
        let level = min(
          max(Int((v / limit * Double(HeatmapGrid.steps)).rounded()), -HeatmapGrid.steps), HeatmapGrid.steps)
        // Level 0 is the background rectangle, so it has no stroke.
        if level == 0 {
          #expect(drawn[i] == nil)
          continue
        }
        expected = HeatmapGrid.colour(level: level)
      }
      #expect(drawn[i] == expected, "cell \(i) value \(v)")
    }
  }

  @Test func theColourScaleIsDivergingAndCentred() {
    #expect(HeatmapGrid.colour(level: 0) == "#f7f7f7")
    #expect(HeatmapGrid.colour(level: -HeatmapGrid.steps) == "#2166ac")
    #expect(HeatmapGrid.colour(level: HeatmapGrid.steps) == "#b2182b")
  }

  @Test func theColourLimitIgnoresOneOutlier() {
    let values = [Float](repeating: 0.5, count: 999) + [100]
    let grid = values.withUnsafeBufferPointer {
      HeatmapGrid(means: $0, stride: 1000, columnOffset: 0, rows: 1, columns: 1000, maxCells: 1000)
    }
    #expect(grid.colourLimit == 0.5)
  }
}

@Suite struct ModelReportTests {
  @Test func fileTextIsEscapedEverywhere() throws {
    let hostile = ["<script>alert(1)</script>", "a\"b'c&d", "\u{202E}evil", "line\nbreak", "ok"]
    let m = try model(h: 3, x: 5, tokens: hostile, name: "</title><script>x()</script>")
    let html = try ModelReport.html(for: subject(m, path: "<img src=x onerror=y>.rnn"))
    // The page's own script is the only one.
    #expect(html.components(separatedBy: "<script").count == 2)
    #expect(!html.contains("<img"))
    #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(html.contains("a&quot;b&#39;c&amp;d"))
    // Bidi overrides and line breaks are shown as escapes, not obeyed.
    #expect(!html.contains("\u{202E}") && html.contains("\\u{202e}evil") && html.contains("line\\u{a}break"))
    #expect(html.contains("<title>&lt;/title&gt;&lt;script&gt;x()&lt;/script&gt; — RNNKit report</title>"))
  }

  @Test func thePageIsSelfContained() throws {
    let html = try ModelReport.html(for: subject(try model(h: 8, x: 12)))
    for reference in ["http:", "https:", "src=", "<link", "@import", "url("] {
      #expect(!html.contains(reference), "the page refers to \(reference)")
    }
    #expect(html.components(separatedBy: "<svg class=\"heatmap\"").count == 4)
    #expect(
      html.contains("id=\"heatmap-W_h\"") && html.contains("id=\"heatmap-W_x\"")
        && html.contains("id=\"heatmap-V\""))
  }

  @Test func bigMatricesAreBlockAveragedAndSaySo() throws {
    let m = try model(h: 20, x: 600)
    let html = try ModelReport.html(for: subject(m), options: ReportOptions(maxHeatmapCells: 256))
    // W_x is 20×600: 20×256 cells of 2 or 3 columns.
    #expect(html.contains("20×600, shown as 20×256 cells: block size 1×2–3"))
    #expect(html.contains("data-cell-cols=\"256\" data-source-rows=\"20\" data-source-cols=\"600\""))
  }

  @Test func promptsAndTheirErrors() throws {
    let m = try model(h: 4, x: 6, tokens: ["the", "cat", "sat", "on", "mat", "<unk>"])
    let html = try ModelReport.html(
      for: subject(m), options: ReportOptions(prompts: ["the cat"], topTokens: 3))
    #expect(html.contains("<b>After</b> <code>the</code><code>cat</code>"))
    // Without prompts: the prior and three one-token prompts.
    let defaults = try ModelReport.html(for: subject(m))
    #expect(
      defaults.contains("<b>Empty prompt</b>") && defaults.components(separatedBy: "<b>After</b>").count == 4)
    #expect(throws: ReportError.self) {
      try ModelReport.html(for: subject(m), options: ReportOptions(prompts: ["the dog"]))
    }
    // With an unknown token, unknown words map to it.
    let withUnknown = try model(
      h: 4, x: 6, tokens: ["the", "cat", "sat", "on", "mat", "<unk>"], unknown: "<unk>")
    #expect(
      try ModelReport.html(for: subject(withUnknown), options: ReportOptions(prompts: ["the dog"])).contains(
        "<code>&lt;unk&gt;</code>"))
  }

  @Test func sampleTextNeedsKnownTokens() throws {
    let m = try model(h: 4, x: 3, tokens: ["a", "b", "c"])
    do {
      _ = try ModelReport.html(for: subject(m), options: ReportOptions(sampleText: "x y z a"))
      Issue.record("a text with one known token was accepted")
    } catch {
      #expect(error.description.contains("1 known token"))
    }
    let html = try ModelReport.html(for: subject(m), options: ReportOptions(sampleText: "a b c a b c z"))
    #expect(html.contains("6 tokens run as one sequence") && html.contains("1 words not in the vocabulary"))
    #expect(html.contains("id=\"saturation\"") && html.contains("id=\"gradient-norms\""))
  }

  @Test func nonFiniteWeightsAreShownNotHidden() throws {
    var m = try model(h: 4, x: 5)
    var w = m.W.floats()
    w[1] = .nan  // in W_h
    w[4 + 2] = .infinity  // in W_x
    m.W = Parameter(w, shape: m.W.shape)
    var c = m.c.floats()
    c[0] = -.infinity
    m.c = Parameter(c, shape: m.c.shape)
    let html = try ModelReport.html(for: subject(m), options: ReportOptions(sampleText: "t0 t1 t2 t3"))
    #expect(html.contains("1 black cells hold NaN or Inf") && html.contains(HeatmapGrid.nonFiniteColour))
    #expect(html.contains("<span class=\"bad\">NaN 1, +Inf 1, −Inf 0</span>"))
    #expect(html.contains("<span class=\"bad\">NaN 0, +Inf 0, −Inf 1</span>"))
    #expect(html.contains("W_h has NaN or infinite values; its spectrum is undefined."))
    // The NaN reaches h at the first step that uses h_{t−1}.
    #expect(html.contains("The hidden state became NaN or infinite at step"))
  }

  @Test func extremeValuesDoNotTrap() throws {
    var m = try model(h: 3, x: 4, scale: 1e-30)
    var w = m.W.floats()
    w[0] = 3e38
    w[1] = -3e38
    w[5] = .leastNonzeroMagnitude
    m.W = Parameter(w, shape: m.W.shape)
    m.V = Parameter(m.V.floats().map { $0 * 1e38 }, shape: m.V.shape)
    let html = try ModelReport.html(for: subject(m), options: ReportOptions(sampleText: "t0 t1 t2 t3 t0"))
    #expect(html.contains("id=\"heatmap-W_h\"") && html.contains("id=\"spectrum\""))
  }

  @Test func writingRefusesToReplaceAFile() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-report-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("r.html").path
    try ModelReport.write("one", to: path, overwrite: false)
    #expect(throws: FormatError.destinationExists(path)) {
      try ModelReport.write("two", to: path, overwrite: false)
    }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "one")
    try ModelReport.write("three", to: path, overwrite: true)
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "three")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["r.html"])
  }

  @Test func theDiffPageCountsAndDrawsTheChange() throws {
    let a = try model(h: 5, x: 7)
    var b = a
    var w = a.W.floats()
    w[5 * 12 - 1] += 0.25  // the last weight of W_x
    b.W = Parameter(w, shape: a.W.shape)
    let html = try ModelReport.diffHTML(subject(a, path: "a.rnn"), subject(b, path: "b.rnn"))
    #expect(
      html.contains(
        "<td><code>W_x</code></td><td class=\"n\">[5, 7]</td><td class=\"n\">[5, 7]</td><td class=\"n\">1 of 35</td><td class=\"n\">0.25</td>"
      ))
    #expect(
      html.contains(
        "<td><code>W_h</code></td><td class=\"n\">[5, 5]</td><td class=\"n\">[5, 5]</td><td class=\"n\">none</td>"
      ))
    #expect(html.components(separatedBy: "<svg class=\"heatmap\"").count == 10)
  }
}

@Suite struct ActivationStatisticsTests {
  /// uᵀ·∂h_T/∂h_t carried back by the report against central differences through the runtime.
  @Test(arguments: [HiddenActivation.tanh, .silu, .softsign, .elu])
  func gradientsMatchFiniteDifferences(f: HiddenActivation) throws {
    let h = 6
    let m = try model(h: h, x: 4, f: f, scale: 0.6, seed: 5)
    let inference = try InferenceModel(m)
    let ids = [0, 3, 1, 2, 2, 0, 1, 3]
    let trace = try ActivationStatistics.Trace(model: m, inference: inference, ids: ids)
    let u: [Float] = [0.3, -0.5, 0.1, 0.6, -0.2, 0.4]
    let end = ids.count
    var carried: [Int: [Float]] = [:]
    trace.carryBack(u, from: end, distance: 5) { d, g in carried[d] = g }
    for d in [1, 3, 5] {
      let t = end - d
      // h_end as a function of h_t: restore h_t, feed the remaining tokens.
      func uDotFinal(_ state: [Float]) throws -> Double {
        var session = InferenceSession(model: inference)
        try session.restore(hidden: state)
        for id in ids[t..<end] { try session.advance(token: id) }
        return zip(u, session.hidden).reduce(0) { $0 + Double($1.0) * Double($1.1) }
      }
      let epsilon: Float = 1e-2
      for j in 0..<h {
        var plus = trace.states[t]
        var minus = plus
        plus[j] += epsilon
        minus[j] -= epsilon
        let numeric = (try uDotFinal(plus) - uDotFinal(minus)) / Double(2 * epsilon)
        // f32 runtime and ε = 1e-2: rounding ~1e-5, truncation ~ε²·f‴ ~1e-4.
        #expect(
          abs(numeric - Double(carried[d]![j])) <= 2e-3, "\(f) d=\(d) j=\(j): \(numeric) vs \(carried[d]![j])"
        )
      }
    }
  }

  @Test func saturationFollowsTheActivation() throws {
    let ids = [0, 1, 2, 1, 0, 2, 1]
    // relu with a large negative bias: every unit is off at every step.
    let off = try model(h: 4, x: 3, f: .relu, scale: 0.1, bias: -5)
    let dead = try ActivationStatistics.compute(
      model: off, inference: InferenceModel(off), ids: ids, skippedWords: 0, maxTokens: 100)
    #expect(dead.saturation == [1, 1, 1, 1] && dead.meanMagnitude == [0, 0, 0, 0])
    // With all of h at 0 and f′ = 0, nothing flows back.
    #expect(dead.gradientNorms.allSatisfy { $0 == 0 })
    let linear = try model(h: 4, x: 3, f: .identity, scale: 0.1)
    let never = try ActivationStatistics.compute(
      model: linear, inference: InferenceModel(linear), ids: ids, skippedWords: 0, maxTokens: 3)
    #expect(never.saturation == [0, 0, 0, 0] && never.tokens == 3 && never.truncated)
  }
}
