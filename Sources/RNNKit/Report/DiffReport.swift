extension ModelReport {
  /// A page with two models side by side: both model cards, how much each tensor differs, the
  /// heatmaps of A, B and B − A for W_h, W_x and V, overlaid histograms and spectra, and the
  /// vocabulary ids that differ.
  ///
  /// A and B share one colour scale so their pictures compare; the difference has its own, and
  /// pools blocks by their largest difference, so a single changed weight stays visible.
  public static func diffHTML(
    _ a: ReportSubject, _ b: ReportSubject, options: ReportOptions = ReportOptions()
  )
    throws(ReportError) -> String
  {
    try check(options)
    let cards = [ModelCard(a), ModelCard(b)]
    var body = "<header><h1>\(HTML.text(cards[0].title)) vs \(HTML.text(cards[1].title))</h1>"
    body +=
      "<p class=\"sub\">RNNKit \(HTML.escape(rnnkitVersion)) comparison of <b>A</b> <code>\(HTML.text(a.path))</code> and <b>B</b> <code>\(HTML.text(b.path))</code>.</p>"
    body +=
      "<nav><a href=\"#cards\">Model cards</a><a href=\"#differences\">Differences</a><a href=\"#weights\">Weights</a><a href=\"#distributions\">Distributions</a><a href=\"#spectrum\">Spectrum</a><a href=\"#vocabulary\">Vocabulary</a></nav></header>"

    var side = "<div class=\"cards\">"
    for (label, card) in zip(["A", "B"], cards) {
      side += "<div><h3>\(label)</h3>\(card.html(headingLevel: 4))</div>"
    }
    body += section("cards", "Model cards", side + "</div>")
    body += section("differences", "Differences", differenceTable(a.model, b.model))
    body += section("weights", "Weights: A, B and B − A", diffWeights(a.model, b.model, options: options))
    body += section(
      "distributions", "Value distributions (A blue, B red)",
      distributionsSection([a.model, b.model], options: options))
    body += section(
      "spectrum", "Spectrum of W_h (A blue, B red)",
      spectrumSection([a.model, b.model], options: options))
    body += section("vocabulary", "Vocabulary", vocabularyDifferences(a.model, b.model))
    return HTML.page(
      title: "\(displaySafe(cards[0].title)) vs \(displaySafe(cards[1].title)) — RNNKit diff", body: body)
  }

  static func differenceTable(_ a: ElmanModel, _ b: ElmanModel) -> String {
    func vector(_ name: String, _ model: ElmanModel) -> MatrixPart {
      let p = parameter(name, of: model)
      return MatrixPart(
        name: name, rowMeaning: "", columnMeaning: "", parameter: p, rows: 1, columns: p.count,
        columnOffset: 0,
        stride: p.count, isVector: true)
    }
    let pairs =
      Array(zip(matrixParts(a), matrixParts(b))) + ["b", "c"].map { (vector($0, a), vector($0, b)) }
    let rows = pairs.map { compare($0, $1) }
    var out = HTML.table(
      header: ["tensor", "shape A", "shape B", "values that differ", "largest |B − A|"], rows: rows)
    var settings: [String] = []
    if a.hiddenActivation != b.hiddenActivation {
      settings.append("hidden activation: \(a.hiddenActivation.rawValue) vs \(b.hiddenActivation.rawValue)")
    }
    if a.outputActivation != b.outputActivation {
      settings.append("output activation: \(a.outputActivation.rawValue) vs \(b.outputActivation.rawValue)")
    }
    if a.tokenizer != b.tokenizer { settings.append("the tokenizer settings differ") }
    out +=
      settings.isEmpty
      ? "<p>Activations and tokenizer: the same.</p>"
      : "<p class=\"reading warn\">" + settings.map(HTML.escape).joined(separator: "; ") + ".</p>"
    return out
  }

  /// One row of the difference table; NaN against NaN counts as equal.
  static func compare(_ x: MatrixPart, _ y: MatrixPart) -> [String] {
    let name = "<code>\(x.name)</code>"
    let (shapeA, shapeB) = (ModelCard.shape(x.shape), ModelCard.shape(y.shape))
    guard x.rows == y.rows, x.columns == y.columns else {
      return [name, shapeA, shapeB, "<span class=\"bad\">shapes differ</span>", "—"]
    }
    var differing = 0
    var largest = 0.0
    x.parameter.withFloats { p in
      y.parameter.withFloats { q in
        for r in 0..<x.rows {
          for j in 0..<x.columns {
            let u = p[r * x.stride + x.columnOffset + j]
            let v = q[r * y.stride + y.columnOffset + j]
            if u == v || (u.isNaN && v.isNaN) { continue }
            differing += 1
            let d = abs(Double(v) - Double(u))
            if !(d <= largest) { largest = d }
          }
        }
      }
    }
    let count = "\(HTML.integer(differing)) of \(HTML.integer(x.rows * x.columns))"
    return [name, shapeA, shapeB, differing > 0 ? count : "none", HTML.number(largest)]
  }

  static func diffWeights(_ a: ElmanModel, _ b: ElmanModel, options: ReportOptions) -> String {
    var out = ""
    for (x, y) in zip(matrixParts(a), matrixParts(b)) {
      out += "<h3>\(x.name)</h3><div class=\"figures\">"
      let gridA = x.parameter.withFloats {
        HeatmapGrid(
          means: $0, stride: x.stride, columnOffset: x.columnOffset, rows: x.rows, columns: x.columns,
          maxCells: options.maxHeatmapCells)
      }
      let gridB = y.parameter.withFloats {
        HeatmapGrid(
          means: $0, stride: y.stride, columnOffset: y.columnOffset, rows: y.rows, columns: y.columns,
          maxCells: options.maxHeatmapCells)
      }
      let shared = max(gridA.colourLimit, gridB.colourLimit)
      out += heatmapFigure(
        gridA, id: "heatmap-A-\(x.name)", title: "A: \(x.name) (\(x.rows)×\(x.columns))", part: x,
        limit: shared,
        maxSide: 320)
      out += heatmapFigure(
        gridB, id: "heatmap-B-\(y.name)", title: "B: \(y.name) (\(y.rows)×\(y.columns))", part: y,
        limit: shared,
        maxSide: 320)
      if x.rows == y.rows && x.columns == y.columns {
        let difference = x.parameter.withFloats { p in
          y.parameter.withFloats { q in
            HeatmapGrid(
              differenceOf: p, q, stride: x.stride, columnOffset: x.columnOffset, rows: x.rows,
              columns: x.columns,
              maxCells: options.maxHeatmapCells)
          }
        }
        let limit = difference.values.contains { $0 != 0 } ? difference.colourLimit : 1
        out += heatmapFigure(
          difference, id: "heatmap-diff-\(x.name)", title: "B − A: \(x.name)", part: x, limit: limit,
          maxSide: 320)
      } else {
        out +=
          "<figure><p><b>B − A: \(x.name)</b></p><p class=\"bad\">The shapes differ; there is no difference to draw.</p></figure>"
      }
      out += "</div>"
    }
    return out
  }

  static func vocabularyDifferences(_ a: ElmanModel, _ b: ElmanModel) -> String {
    switch (a.vocabulary, b.vocabulary) {
    case (nil, nil): return "<p>Neither model has a vocabulary.</p>"
    case (.some(let v), nil):
      return "<p class=\"reading warn\">Only A has a vocabulary (\(HTML.integer(v.count)) tokens).</p>"
    case (nil, .some(let v)):
      return "<p class=\"reading warn\">Only B has a vocabulary (\(HTML.integer(v.count)) tokens).</p>"
    case (.some(let va), .some(let vb)):
      var rows: [[String]] = []
      var differing = 0
      for id in 0..<min(va.count, vb.count) where va[id] != vb[id] {
        differing += 1
        if rows.count < 20 {
          rows.append([String(id), "<code>\(HTML.text(va[id]))</code>", "<code>\(HTML.text(vb[id]))</code>"])
        }
      }
      var out = "<p>A has \(HTML.integer(va.count)) tokens, B \(HTML.integer(vb.count)); "
      out +=
        differing == 0
        ? "the shared ids name the same tokens.</p>"
        : "\(HTML.integer(differing)) shared ids name different tokens"
      if differing > 0 {
        out += rows.count < differing ? " (the first \(rows.count) are listed).</p>" : ".</p>"
        out += HTML.table(header: ["id", "A", "B"], rows: rows, numericFrom: 3)
      }
      return out
    }
  }
}
