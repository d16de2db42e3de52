import Foundation

/// A model and the file it was read from, as a report describes it.
public struct ReportSubject: Sendable {
  /// The model to describe.
  public var model: ElmanModel
  /// The file as the user named it; shown on the page (escaped).
  public var path: String
  /// The format it was read in, such as `rnn` or `keras-h5` (see ``ModelFormats``).
  public var format: String
  /// Whether the tensor checksums of an `.rnn` file were verified when it was read.
  public var checksumsVerified: Bool

  /// Describes `model`, read from `path` in `format`.
  public init(model: ElmanModel, path: String, format: String, checksumsVerified: Bool) {
    self.model = model
    self.path = path
    self.format = format
    self.checksumsVerified = checksumsVerified
  }
}

/// What a report includes beyond the weights, and its size limits.
public struct ReportOptions: Sendable {
  /// Prompts whose most likely next tokens are shown. Empty: the empty prompt and the three most
  /// likely first tokens.
  public var prompts: [String]
  /// How many next tokens to list per prompt.
  public var topTokens: Int
  /// Text to run through the model for activation statistics (token models only).
  public var sampleText: String?
  /// The name the sample text is shown under, such as its file name.
  public var sampleName: String
  /// At most this many tokens of the sample text are run.
  public var maxSampleTokens: Int
  /// Heatmaps have at most this many cells across and down; bigger matrices are block-averaged.
  public var maxHeatmapCells: Int
  /// Bins per histogram.
  public var histogramBins: Int
  /// Up to this H every singular value of W_h is computed; above it, the largest 64 by Lanczos.
  public var completeSpectrumUpTo: Int
  /// At most this many tokens are listed.
  public var maxListedTokens: Int

  /// The defaults make a complete report of any model; sample text is optional.
  public init(
    prompts: [String] = [], topTokens: Int = 5, sampleText: String? = nil, sampleName: String = "sample",
    maxSampleTokens: Int = 2_000, maxHeatmapCells: Int = 256, histogramBins: Int = 64,
    completeSpectrumUpTo: Int = 512, maxListedTokens: Int = 10_000
  ) {
    self.prompts = prompts
    self.topTokens = topTokens
    self.sampleText = sampleText
    self.sampleName = sampleName
    self.maxSampleTokens = maxSampleTokens
    self.maxHeatmapCells = maxHeatmapCells
    self.histogramBins = histogramBins
    self.completeSpectrumUpTo = completeSpectrumUpTo
    self.maxListedTokens = maxListedTokens
  }
}

/// Why a report could not be made.
public enum ReportError: Error, CustomStringConvertible, Sendable {
  /// A prompt that cannot be run, with the reason.
  case prompt(String, reason: String)
  /// The sample text cannot be used, with the reason.
  case sampleText(String)
  /// An option out of range, with the reason.
  case invalidOption(String)
  /// The runtime refused the model.
  case runtime(RuntimeError)

  /// One line naming the part and the reason; file text made safe to print.
  public var description: String {
    switch self {
    case .prompt(let prompt, let reason): return displaySafe("prompt \"\(prompt)\": \(reason)")
    case .sampleText(let reason): return displaySafe("sample text: \(reason)")
    case .invalidOption(let reason): return displaySafe(reason)
    case .runtime(let error): return error.description
    }
  }
}

/// Weights as pictures: a self-contained HTML page about one model, or two side by side.
///
/// The page opens with the model card (format, provenance, H/X/O, activations, vocabulary,
/// metadata, tensors with their stored checksums), then heatmaps of W_h, W_x and V on a diverging
/// colour scale centred at 0 (block-averaged to at most ``ReportOptions/maxHeatmapCells`` cells a
/// side), a histogram of every tensor with its NaN and Inf counts, the singular values of W_h with
/// its spectral radius and what it means for gradients, optional activation statistics on sample
/// text, and the vocabulary with the most likely next tokens for a few prompts.
///
/// Everything is inline (SVG, CSS, a few lines of script); the page fetches nothing. Every string
/// that comes from a file is escaped.
public enum ModelReport {
  /// The report page of one model.
  public static func html(for subject: ReportSubject, options: ReportOptions = ReportOptions())
    throws(ReportError)
    -> String
  {
    try check(options)
    let model = subject.model
    let card = ModelCard(subject)
    let inference = try prepare(model)

    var body = "<header><h1>\(HTML.text(card.title))</h1>"
    body +=
      "<p class=\"sub\">RNNKit \(HTML.escape(rnnkitVersion)) model report of <code>\(HTML.text(subject.path))</code>: h<sub>t</sub> = f(W_h·h<sub>t−1</sub> + W_x·x<sub>t</sub> + b), y<sub>t</sub> = g(V·h<sub>t</sub> + c).</p>"
    var links = [
      ("card", "Model card"), ("weights", "Weights"), ("distributions", "Distributions"),
      ("spectrum", "Spectrum"),
    ]
    if options.sampleText != nil { links.append(("activations", "Activations")) }
    links.append(("vocabulary", "Vocabulary"))
    body += "<nav>" + links.map { "<a href=\"#\($0.0)\">\($0.1)</a>" }.joined() + "</nav></header>"

    body += section("card", "Model card", card.html())
    body += section("weights", "Weights", weightsSection(model, options: options))
    body += section("distributions", "Value distributions", distributionsSection([model], options: options))
    body += section(
      "spectrum", "Spectrum of W_h", spectrumSection([model], options: options))
    if let text = options.sampleText {
      let statistics = try activationStatistics(model, inference: inference, text: text, options: options)
      body += section(
        "activations", "Activations on sample text",
        statistics.html(model: model, sampleName: options.sampleName))
    }
    let vocabulary = try VocabularySection(
      model: model, inference: inference, prompts: options.prompts, top: options.topTokens)
    body += section(
      "vocabulary", "Vocabulary and predictions", vocabulary.html(maxListed: options.maxListedTokens))
    return HTML.page(title: "\(displaySafe(card.title)) — RNNKit report", body: body)
  }

  /// Writes `html` to `path` through `AtomicFile`: the path names either the old file or the
  /// complete new one, never a partial page.
  ///
  /// - Throws: `FormatError.destinationExists` when `path` exists and `overwrite` is false,
  ///   and the errors of creating or renaming the file.
  public static func write(_ html: String, to path: String, overwrite: Bool) throws {
    try AtomicFile.write(to: path, overwrite: overwrite) { temporary in
      try Data(html.utf8).write(to: URL(fileURLWithPath: temporary))
    }
  }

  // MARK: Shared pieces

  static func check(_ options: ReportOptions) throws(ReportError) {
    guard options.maxHeatmapCells >= 1 else { throw .invalidOption("heatmaps need at least one cell a side") }
    guard options.histogramBins >= 1 else { throw .invalidOption("histograms need at least one bin") }
    guard options.topTokens >= 1 else { throw .invalidOption("list at least one next token per prompt") }
    guard options.maxSampleTokens >= 1 else { throw .invalidOption("run at least one token of sample text") }
  }

  static func prepare(_ model: ElmanModel) throws(ReportError) -> InferenceModel? {
    guard model.inputKind == .tokens else { return nil }
    do {
      return try InferenceModel(model)
    } catch {
      throw .runtime(error)
    }
  }

  static func section(_ id: String, _ title: String, _ content: String) -> String {
    "<section id=\"\(id)\"><h2>\(HTML.escape(title))</h2>\(content)</section>"
  }

  /// A matrix inside a parameter: W_h and W_x are column ranges of W.
  struct MatrixPart {
    var name: String
    var rowMeaning: String
    var columnMeaning: String
    var parameter: Parameter
    var rows: Int
    var columns: Int
    var columnOffset: Int
    var stride: Int
    var isVector = false

    var shape: [Int] { isVector ? [columns] : [rows, columns] }
  }

  static func matrixParts(_ model: ElmanModel) -> [MatrixPart] {
    let (h, x, o) = (model.hiddenSize, model.inputSize, model.outputSize)
    let input = model.inputKind == .tokens ? "token id" : "input feature"
    return [
      MatrixPart(
        name: "W_h", rowMeaning: "hidden unit i (to)", columnMeaning: "hidden unit j (from)",
        parameter: model.W, rows: h,
        columns: h, columnOffset: 0, stride: h + x),
      MatrixPart(
        name: "W_x", rowMeaning: "hidden unit", columnMeaning: input, parameter: model.W, rows: h, columns: x,
        columnOffset: h, stride: h + x),
      MatrixPart(
        name: "V", rowMeaning: model.outputVocabulary != nil ? "output token id" : "output",
        columnMeaning: "hidden unit",
        parameter: model.V, rows: o, columns: h, columnOffset: 0, stride: h),
    ]
  }

  static func heatmapFigure(
    _ grid: HeatmapGrid, id: String, title: String, part: MatrixPart, limit: Double, maxSide: Double
  ) -> String {
    var out = "<figure><p><b>\(HTML.escape(title))</b></p>"
    out += grid.svg(id: id, label: "\(title) heatmap", limit: limit, maxSide: maxSide)
    out += "<div class=\"probe\" id=\"\(id)-probe\"></div>"
    out += HeatmapGrid.legend(limit: limit)
    var caption =
      "Rows: \(HTML.escape(part.rowMeaning)); columns: \(HTML.escape(part.columnMeaning)). \(grid.cellDescription)"
    caption += " Colours saturate at ±\(HTML.number(limit, digits: 3)) (the 99th percentile of |cell|)."
    let bad = grid.nonFiniteCells
    if bad > 0 { caption += " <span class=\"bad\">\(HTML.integer(bad)) black cells hold NaN or Inf.</span>" }
    return out + "<figcaption>\(caption)</figcaption></figure>"
  }

  static func weightsSection(_ model: ElmanModel, options: ReportOptions) -> String {
    var out = "<div class=\"figures\">"
    for part in matrixParts(model) {
      let grid = part.parameter.withFloats {
        HeatmapGrid(
          means: $0, stride: part.stride, columnOffset: part.columnOffset, rows: part.rows,
          columns: part.columns,
          maxCells: options.maxHeatmapCells)
      }
      out += heatmapFigure(
        grid, id: "heatmap-\(part.name)", title: "\(part.name) (\(part.rows)×\(part.columns))", part: part,
        limit: grid.colourLimit, maxSide: 330)
    }
    return out + "</div>"
  }

  static let seriesColours = ["#2b5fab", "#d6604d"]

  /// One histogram per tensor, the models' histograms overlaid on a shared range.
  static func distributionsSection(_ models: [ElmanModel], options: ReportOptions) -> String {
    var out = "<div class=\"figures\">"
    for name in ["W", "b", "V", "c"] {
      let parameters = models.map { parameter(name, of: $0) }
      let statistics = parameters.map { $0.statistics() }
      let lower = statistics.map(\.min).filter(\.isFinite).min() ?? 0
      let upper = statistics.map(\.max).filter(\.isFinite).max() ?? 0
      let histograms = parameters.map {
        $0.histogram(bins: options.histogramBins, range: lower...max(lower, upper))
      }
      let series = histograms.enumerated().map {
        (histogram: $1, colour: seriesColours[$0 % seriesColours.count])
      }
      out += "<figure><p><b>\(name)</b> \(ModelCard.shape(parameters[0].shape))</p>"
      out += HistogramChart.svg(series, id: "histogram-\(name)", label: "histogram of \(name)")
      var caption: [String] = []
      for (i, (s, h)) in zip(statistics, histograms).enumerated() {
        let who = models.count > 1 ? "<b>\(["A", "B"][i])</b>: " : ""
        caption.append(
          who
            + "\(HTML.integer(s.count)) values; min \(HTML.number(s.min)), max \(HTML.number(s.max)), mean \(HTML.number(s.mean)), std \(HTML.number(s.standardDeviation)); \(HistogramChart.nonFiniteSummary(h))."
        )
      }
      out +=
        "<figcaption>\(caption.joined(separator: "<br>")) \(options.histogramBins) bins.</figcaption></figure>"
    }
    return out + "</div>"
  }

  static func parameter(_ name: String, of model: ElmanModel) -> Parameter {
    switch name {
    case "W": return model.W
    case "b": return model.b
    case "V": return model.V
    default: return model.c
    }
  }

  /// The singular values of each model's W_h, its spectral radius and the reading.
  static func spectrumSection(_ models: [ElmanModel], options: ReportOptions) -> String {
    var series: [(values: [Double], colour: String, name: String)] = []
    var notes: [String] = []
    for (i, model) in models.enumerated() {
      let who = models.count > 1 ? "<b>\(["A", "B"][i])</b>: " : ""
      guard let spectrum = model.recurrentSingularValues(completeUpTo: options.completeSpectrumUpTo),
        let rho = model.recurrentSpectralRadius()
      else {
        notes.append(
          "<p class=\"reading warn\">\(who)W_h has NaN or infinite values; its spectrum is undefined.</p>")
        continue
      }
      series.append(
        (spectrum.values, seriesColours[i % seriesColours.count], models.count > 1 ? ["A", "B"][i] : "σ"))
      let method: String
      switch spectrum.method {
      case .complete:
        method =
          "all \(HTML.integer(spectrum.dimension)) singular values, the square roots of the eigenvalues of W_hᵀW_h (Householder tridiagonalisation, then implicit QL; values under 10⁻⁸·σ₁ are rounding noise)"
      case .lanczos(let steps):
        method =
          "the largest \(HTML.integer(spectrum.values.count)) of \(HTML.integer(spectrum.dimension)) singular values, by \(HTML.integer(steps)) Lanczos steps on W_hᵀW_h with full reorthogonalisation (only values that had converged are shown)"
      }
      let sigma = spectrum.values.first ?? 0
      let tone = rho > 1.05 || rho < 0.5 ? "warn" : "ok"
      var text = "\(who)Spectral radius ρ(W_h) ≈ <b>\(HTML.number(rho))</b> (power iteration): "
      text += HTML.escape(ElmanModel.spectralRadiusReading(rho)) + "."
      text += " Largest singular value σ₁ = <b>\(HTML.number(sigma))</b>"
      if sigma < 1 && model.hiddenActivation.derivativeAtMostOne {
        text +=
          ": since |f′| ≤ 1 for \(HTML.escape(model.hiddenActivation.rawValue)), ‖∂h<sub>T</sub>/∂h<sub>t</sub>‖ ≤ σ₁<sup>T−t</sup>: gradients vanish at least geometrically."
      } else {
        text += "; ρ ≤ σ₁ always, and only ρ governs the long-run growth."
      }
      notes.append("<p class=\"reading \(tone)\">\(text)</p><p class=\"note\">\(who)Shown: \(method).</p>")
    }
    var out = ""
    if !series.isEmpty {
      out +=
        "<figure>" + SpectrumChart.svg(series, id: "spectrum", label: "singular values of W_h") + "</figure>"
    }
    return out + notes.joined()
  }

  static func activationStatistics(
    _ model: ElmanModel, inference: InferenceModel?, text: String, options: ReportOptions
  ) throws(ReportError) -> ActivationStatistics {
    guard let inference, let vocabulary = model.vocabulary else {
      throw .sampleText("activation statistics on text need a token model; this one takes dense inputs")
    }
    let (ids, unknown) = model.textTokenizer.encode(text, vocabulary: vocabulary)
    guard ids.count >= 2 else {
      throw .sampleText(
        "it holds \(ids.count) known token\(ids.count == 1 ? "" : "s"); at least 2 are needed")
    }
    do {
      return try ActivationStatistics.compute(
        model: model, inference: inference, ids: ids, skippedWords: unknown.count,
        maxTokens: options.maxSampleTokens)
    } catch {
      throw .runtime(error)
    }
  }
}

extension HiddenActivation {
  /// Whether |f′| ≤ 1 everywhere, so a step can only shrink what W_h passes on.
  var derivativeAtMostOne: Bool {
    switch self {
    case .tanh, .sigmoid, .relu, .identity, .softsign, .softplus, .elu: return true
    case .silu: return false
    }
  }
}
