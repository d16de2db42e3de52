import Foundation

/// Histograms of tensor values as bar charts.
enum HistogramChart {
  /// One bar chart of one or more histograms over the same bins (overlaid, translucent).
  static func svg(_ series: [(histogram: TensorHistogram, colour: String)], id: String, label: String)
    -> String
  {
    guard let first = series.first?.histogram else { return "" }
    var lower = first.lowerBound
    var upper = first.upperBound
    if !(upper > lower) {
      // Every value equal: centre the one bar in a small window around it.
      let pad = max(abs(lower) * 0.1, 0.5)
      lower -= pad
      upper += pad
    }
    let top = series.map { $0.histogram.counts.max() ?? 0 }.max() ?? 0
    let plot = Plot(
      x: Plot.Axis(lower: lower, upper: upper, label: "value"),
      y: Plot.Axis(lower: 0, upper: Double(max(top, 1)), label: "count"))
    var bars = ""
    for (histogram, colour) in series {
      let bins = histogram.counts.count
      let width = histogram.binWidth
      let opacity = series.count > 1 ? " fill-opacity=\"0.55\"" : ""
      bars += "<g fill=\"\(colour)\"\(opacity)>"
      for (i, count) in histogram.counts.enumerated() where count > 0 {
        let x0: Double
        let x1: Double
        if width > 0 {
          x0 = histogram.lowerBound + Double(i) * width
          x1 = x0 + width
        } else {
          // A degenerate histogram: one bar a tenth of the window wide, at the value.
          guard i == 0 || bins == 1 else { continue }
          x0 = histogram.lowerBound - (upper - lower) / 40
          x1 = histogram.lowerBound + (upper - lower) / 40
        }
        let px0 = plot.px(x0)
        let px1 = max(plot.px(x1) - 0.6, px0 + 1)
        let py = plot.py(Double(count))
        bars +=
          "<rect x=\"\(HTML.coordinate(px0))\" y=\"\(HTML.coordinate(py))\" width=\"\(HTML.coordinate(px1 - px0))\" height=\"\(HTML.coordinate(plot.py(0) - py))\"/>"
      }
      bars += "</g>"
    }
    if lower < 0 && upper > 0 {
      let x = HTML.coordinate(plot.px(0))
      bars +=
        "<line x1=\"\(x)\" x2=\"\(x)\" y1=\"\(HTML.coordinate(plot.top))\" y2=\"\(HTML.coordinate(plot.top + plot.plotHeight))\" stroke=\"#5b6475\" stroke-dasharray=\"2 3\"/>"
    }
    return plot.svg(id: id, label: label, content: bars)
  }

  /// "NaN 0, +Inf 0, −Inf 0", highlighted when any is not 0.
  static func nonFiniteSummary(_ histogram: TensorHistogram) -> String {
    let text =
      "NaN \(HTML.integer(histogram.nanCount)), +Inf \(HTML.integer(histogram.positiveInfinityCount)), −Inf \(HTML.integer(histogram.negativeInfinityCount))"
    let bad = histogram.nanCount + histogram.positiveInfinityCount + histogram.negativeInfinityCount > 0
    return bad ? "<span class=\"bad\">\(text)</span>" : text
  }
}

/// Singular values as a descending curve on a logarithmic axis.
enum SpectrumChart {
  static func svg(_ series: [(values: [Double], colour: String, name: String)], id: String, label: String)
    -> String
  {
    let all = series.flatMap(\.values)
    let top = all.max() ?? 1
    // Values under 1e-8·σ₁ are rounding noise of AᵀA (and log scales cannot show 0).
    let floor = max(top * 1e-8, .leastNormalMagnitude)
    let positive = all.filter { $0 > floor }
    let lower = min(positive.min() ?? floor, 1) / 1.5
    let upper = max(top, 1) * 1.5
    let count = series.map(\.values.count).max() ?? 1
    let plot = Plot(
      x: Plot.Axis(lower: 1, upper: Double(max(count, 2)), label: "index i (largest first)"),
      y: Plot.Axis(lower: lower, upper: upper, logarithmic: true, label: "singular value σᵢ"))
    var content = plot.reference(y: 1, label: "σ = 1")
    for (values, colour, _) in series {
      content += plot.line(
        values.enumerated().map { i, v in v > floor ? (Double(i + 1), v) : nil }, color: colour)
      if values.count <= 64 {
        for (i, v) in values.enumerated() where v > floor {
          content +=
            "<circle cx=\"\(HTML.coordinate(plot.px(Double(i + 1))))\" cy=\"\(HTML.coordinate(plot.py(v)))\" r=\"2.2\" fill=\"\(colour)\"/>"
        }
      }
    }
    if series.count > 1 {
      for (i, s) in series.enumerated() {
        let y = plot.top + 14 + Double(i) * 14
        content +=
          "<rect x=\"\(HTML.coordinate(plot.left + plot.plotWidth - 120))\" y=\"\(HTML.coordinate(y - 8))\" width=\"10\" height=\"10\" fill=\"\(s.colour)\"/>"
          + "<text x=\"\(HTML.coordinate(plot.left + plot.plotWidth - 105))\" y=\"\(HTML.coordinate(y + 1))\">\(HTML.text(s.name))</text>"
      }
    }
    return plot.svg(id: id, label: label, content: content)
  }
}
