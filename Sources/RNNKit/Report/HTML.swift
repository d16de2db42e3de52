import Foundation

/// Text and page building blocks of the report: escaping, number formatting, the page frame.
enum HTML {
  /// `text` escaped for HTML element content and attribute values.
  static func escape(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out
  }

  /// Text that came from a file (tokens, metadata, names): control, line-separator and bidi
  /// characters made visible, then escaped, so it can neither break the markup nor hide itself.
  static func text(_ fileText: String) -> String { escape(displaySafe(fileText)) }

  /// A number with up to `digits` significant digits; nan and ±inf spelled out.
  static func number(_ value: Double, digits: Int = 4) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "+Inf" : "−Inf") }
    if value == 0 { return "0" }
    var s = String(format: "%.\(digits)g", value)
    if s.hasPrefix("-") { s = "−" + s.dropFirst() }
    return s
  }

  /// An integer with thousands separators: 50,000.
  static func integer(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
      out.append(c)
    }
    return (value < 0 ? "−" : "") + out
  }

  /// A coordinate in an SVG: at most two decimals, no trailing zeros.
  static func coordinate(_ value: Double) -> String {
    // Callers draw finite data only; a stray non-finite value must not trap the whole report.
    guard value.isFinite, abs(value) < 1e12 else { return "0" }
    let hundredths = Int((value * 100).rounded())
    let sign = hundredths < 0 ? "-" : ""
    let whole = abs(hundredths) / 100
    let fraction = abs(hundredths) % 100
    if fraction == 0 { return sign + String(whole) }
    if fraction % 10 == 0 { return sign + "\(whole).\(fraction / 10)" }
    return sign + "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
  }

  /// A two-column table of label and value rows; values are HTML already.
  static func definitionTable(_ rows: [(String, String)]) -> String {
    var out = "<table class=\"card\"><tbody>"
    for (label, value) in rows { out += "<tr><th>\(escape(label))</th><td>\(value)</td></tr>" }
    return out + "</tbody></table>"
  }

  /// A table with a header row; cells are HTML already.
  static func table(header: [String], rows: [[String]], numericFrom: Int = 1) -> String {
    var out = "<table class=\"grid\"><thead><tr>"
    for cell in header { out += "<th>\(escape(cell))</th>" }
    out += "</tr></thead><tbody>"
    for row in rows {
      out += "<tr>"
      for (i, cell) in row.enumerated() {
        out += i >= numericFrom ? "<td class=\"n\">\(cell)</td>" : "<td>\(cell)</td>"
      }
      out += "</tr>"
    }
    return out + "</tbody></table>"
  }

  /// A complete, self-contained page: inline CSS and script, nothing fetched.
  static func page(title: String, body: String) -> String {
    """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="generator" content="RNNKit \(escape(rnnkitVersion))">
    <title>\(escape(title))</title>
    <style>\(style)</style>
    </head>
    <body>
    \(body)
    <script>\(script)</script>
    </body>
    </html>

    """
  }

  static let style = """
    :root { --ink: #1d2330; --muted: #5b6475; --line: #d9dde5; --panel: #f6f7f9; --accent: #2b5fab; }
    * { box-sizing: border-box; }
    body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 64px; color: var(--ink);
      font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
    h1 { font-size: 24px; margin: 0 0 4px; }
    h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
    h3 { font-size: 15px; margin: 16px 0 6px; }
    p { margin: 6px 0; }
    .sub, .note, figcaption { color: var(--muted); }
    .note { font-size: 13px; }
    code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
    table { border-collapse: collapse; margin: 6px 0 10px; }
    table.card th { text-align: left; font-weight: 600; padding: 3px 16px 3px 0; vertical-align: top;
      white-space: nowrap; }
    table.card td { padding: 3px 0; }
    table.grid th, table.grid td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; }
    table.grid th { background: var(--panel); font-weight: 600; }
    table.grid td.n { text-align: right; font-variant-numeric: tabular-nums; }
    .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 8px 32px; }
    .figures { display: flex; flex-wrap: wrap; gap: 20px 20px; align-items: flex-start; }
    /* A table, so the caption wraps to the picture's width (at least 300 px). */
    figure { margin: 0; display: table; width: 300px; }
    figcaption { display: table-caption; caption-side: bottom; font-size: 12.5px; margin-top: 4px; }
    figcaption b { color: var(--ink); }
    svg { display: block; }
    svg text { font: 11px system-ui, DejaVu Sans, sans-serif; fill: var(--muted); }
    svg .title { fill: var(--ink); font-weight: 600; }
    .heatmap { border: 1px solid var(--line); image-rendering: pixelated; cursor: crosshair; }
    .probe { font-size: 12px; min-height: 1.45em; color: var(--ink); }
    .reading { padding: 8px 12px; background: var(--panel); border-left: 4px solid var(--accent); margin: 8px 0; }
    .reading.warn { border-left-color: #b2182b; }
    .reading.ok { border-left-color: #1b7837; }
    ol.vocab { columns: 6 150px; column-gap: 18px; margin: 6px 0; padding-left: 0;
      font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
    ol.vocab li { break-inside: avoid; white-space: pre-wrap; overflow-wrap: anywhere; list-style-position: inside; }
    ol.vocab li::marker { color: var(--muted); font-size: 11px; }
    .tokens code { background: var(--panel); border: 1px solid var(--line); border-radius: 3px; padding: 0 3px;
      margin-right: 2px; white-space: pre; }
    .bad { color: #b2182b; font-weight: 600; }
    nav { margin: 8px 0 0; font-size: 13px; }
    nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
    """

  /// Hovering a heatmap names the block of the matrix under the pointer and its value range; the
  /// page works without it.
  static let script = """
    (function () {
      'use strict';
      // Cell k of n covers source indices floor(k·N/n) … floor((k+1)·N/n) − 1.
      function range(k, cells, total) {
        var start = Math.floor(k * total / cells), end = Math.floor((k + 1) * total / cells) - 1;
        return end > start ? start + '–' + end : String(start);
      }
      document.querySelectorAll('svg.heatmap').forEach(function (svg) {
        var out = document.getElementById(svg.id + '-probe');
        if (!out) { return; }
        var d = svg.dataset;
        var rows = +d.cellRows, cols = +d.cellCols;
        svg.addEventListener('mousemove', function (event) {
          var box = svg.getBoundingClientRect();
          var c = Math.min(cols - 1, Math.floor((event.clientX - box.left) / box.width * cols));
          var r = Math.min(rows - 1, Math.floor((event.clientY - box.top) / box.height * rows));
          if (c < 0 || r < 0) { return; }
          var level = event.target.getAttribute('data-range') || '';
          out.textContent = 'rows ' + range(r, rows, +d.sourceRows) + ', columns ' +
            range(c, cols, +d.sourceCols) + (level ? ': ' + level : '');
        });
        svg.addEventListener('mouseleave', function () { out.textContent = ''; });
      });
    })();
    """
}

/// A rectangular plot area with linear or logarithmic axes, drawn as an SVG of class `chart`.
struct Plot {
  struct Axis {
    var lower: Double
    var upper: Double
    var logarithmic = false
    var label: String
  }

  var width = 540.0
  var height = 210.0
  var left = 58.0
  var right = 14.0
  var top = 12.0
  var bottom = 38.0
  var x: Axis
  var y: Axis

  var plotWidth: Double { width - left - right }
  var plotHeight: Double { height - top - bottom }

  private func fraction(_ value: Double, _ axis: Axis) -> Double {
    if axis.logarithmic {
      let lo = log10(axis.lower)
      let hi = log10(axis.upper)
      return hi > lo ? (log10(max(value, axis.lower)) - lo) / (hi - lo) : 0.5
    }
    return axis.upper > axis.lower ? (value - axis.lower) / (axis.upper - axis.lower) : 0.5
  }

  func px(_ value: Double) -> Double { left + fraction(value, x) * plotWidth }
  func py(_ value: Double) -> Double { top + (1 - fraction(value, y)) * plotHeight }

  /// Round tick values inside the axis: 1, 2 or 5 times a power of ten apart, or powers of ten.
  static func ticks(_ axis: Axis, count: Int = 5) -> [Double] {
    if axis.logarithmic {
      let lo = Int(floor(log10(axis.lower)))
      let hi = Int(ceil(log10(axis.upper)))
      let step = max(1, (hi - lo + count - 1) / count)
      return stride(from: lo, through: hi, by: step).map { pow(10, Double($0)) }.filter {
        $0 >= axis.lower * 0.999 && $0 <= axis.upper * 1.001
      }
    }
    let span = axis.upper - axis.lower
    guard span > 0, span.isFinite else { return [axis.lower] }
    let raw = span / Double(count)
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    var values: [Double] = []
    var v = ceil(axis.lower / step) * step
    while v <= axis.upper + step * 1e-9 {
      values.append(abs(v) < step * 1e-9 ? 0 : v)
      v += step
    }
    return values
  }

  /// A tick's label; on a logarithmic axis, large and small powers of ten as 10ⁿ.
  static func tickLabel(_ value: Double, _ axis: Axis) -> String {
    guard axis.logarithmic, value > 0, value >= 1e4 || value < 1e-2 else {
      return HTML.number(value, digits: 3)
    }
    let exponent = Int(log10(value).rounded())
    let superscripts: [Character: String] = [
      "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵", "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹",
      "-": "⁻",
    ]
    return "10" + String(exponent).map { superscripts[$0] ?? String($0) }.joined()
  }

  /// The frame, grid lines, tick labels and axis labels.
  func axes() -> String {
    var out = "<g class=\"axes\">"
    out +=
      "<rect x=\"\(HTML.coordinate(left))\" y=\"\(HTML.coordinate(top))\" width=\"\(HTML.coordinate(plotWidth))\" height=\"\(HTML.coordinate(plotHeight))\" fill=\"#fbfbfc\" stroke=\"#d9dde5\"/>"
    for t in Self.ticks(y) {
      let yy = HTML.coordinate(py(t))
      out +=
        "<line x1=\"\(HTML.coordinate(left))\" x2=\"\(HTML.coordinate(left + plotWidth))\" y1=\"\(yy)\" y2=\"\(yy)\" stroke=\"#e6e9ef\"/>"
      out +=
        "<text x=\"\(HTML.coordinate(left - 5))\" y=\"\(yy)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(Self.tickLabel(t, y))</text>"
    }
    for t in Self.ticks(x) {
      let xx = HTML.coordinate(px(t))
      out +=
        "<line x1=\"\(xx)\" x2=\"\(xx)\" y1=\"\(HTML.coordinate(top + plotHeight))\" y2=\"\(HTML.coordinate(top + plotHeight + 4))\" stroke=\"#9aa1ad\"/>"
      out +=
        "<text x=\"\(xx)\" y=\"\(HTML.coordinate(top + plotHeight + 15))\" text-anchor=\"middle\">\(Self.tickLabel(t, x))</text>"
    }
    out +=
      "<text x=\"\(HTML.coordinate(left + plotWidth / 2))\" y=\"\(HTML.coordinate(height - 4))\" text-anchor=\"middle\">\(HTML.escape(x.label))</text>"
    out +=
      "<text transform=\"translate(12 \(HTML.coordinate(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(HTML.escape(y.label))</text>"
    return out + "</g>"
  }

  /// The whole chart: an SVG element with a label for assistive technology.
  func svg(id: String, label: String, content: String) -> String {
    "<svg class=\"chart\" id=\"\(HTML.escape(id))\" role=\"img\" aria-label=\"\(HTML.escape(label))\" width=\"\(HTML.coordinate(width))\" height=\"\(HTML.coordinate(height))\" viewBox=\"0 0 \(HTML.coordinate(width)) \(HTML.coordinate(height))\">"
      + axes() + content + "</svg>"
  }

  /// A polyline through the points (nil breaks the line).
  func line(_ points: [(Double, Double)?], color: String, width: Double = 1.6, dash: String? = nil) -> String
  {
    var segments: [String] = []
    var current: [String] = []
    for point in points {
      guard let (px, py) = point.map({ (self.px($0.0), self.py($0.1)) }) else {
        if !current.isEmpty { segments.append(current.joined(separator: " ")) }
        current = []
        continue
      }
      current.append("\(HTML.coordinate(px)),\(HTML.coordinate(py))")
    }
    if !current.isEmpty { segments.append(current.joined(separator: " ")) }
    let dashed = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
    return segments.map {
      "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(HTML.coordinate(width))\"\(dashed) points=\"\($0)\"/>"
    }.joined()
  }

  /// A horizontal reference line at `value` with a label at its right end.
  func reference(y value: Double, label: String, color: String = "#b2182b") -> String {
    let yy = HTML.coordinate(py(value))
    return
      "<line x1=\"\(HTML.coordinate(left))\" x2=\"\(HTML.coordinate(left + plotWidth))\" y1=\"\(yy)\" y2=\"\(yy)\" stroke=\"\(color)\" stroke-dasharray=\"5 4\"/>"
      + "<text x=\"\(HTML.coordinate(left + plotWidth - 4))\" y=\"\(HTML.coordinate(py(value) - 4))\" text-anchor=\"end\" style=\"fill:\(color)\">\(HTML.escape(label))</text>"
  }
}
