/// A matrix reduced to at most `maxCells`×`maxCells` cells, and its picture on a diverging colour
/// scale centred at 0.
///
/// Cell k of n covers source rows (or columns) ⌊k·N/n⌋ up to ⌊(k+1)·N/n⌋, so blocks differ in size
/// by at most one row or column. A cell holding a NaN or an infinite value is drawn black.
struct HeatmapGrid {
  enum Pooling {
    /// The block's mean: what the weights look like from afar.
    case mean
    /// The block's value of largest magnitude, with its sign: one changed weight stays visible.
    case largestMagnitude
  }

  let sourceRows: Int
  let sourceColumns: Int
  /// Cells down.
  let rows: Int
  /// Cells across.
  let columns: Int
  let pooling: Pooling
  /// Row-major cell values; NaN for a cell with a non-finite value.
  private(set) var values: [Double]

  /// The first source index of cell `k` of `cells` over `total` indices.
  static func start(_ k: Int, cells: Int, total: Int) -> Int { k * total / cells }

  /// The smallest and largest block height and width.
  var blockRows: ClosedRange<Int> { Self.blockSizes(total: sourceRows, cells: rows) }
  var blockColumns: ClosedRange<Int> { Self.blockSizes(total: sourceColumns, cells: columns) }

  static func blockSizes(total: Int, cells: Int) -> ClosedRange<Int> {
    total % cells == 0 ? (total / cells)...(total / cells) : (total / cells)...(total / cells + 1)
  }

  var isPooled: Bool { rows < sourceRows || columns < sourceColumns }
  var nonFiniteCells: Int { values.reduce(0) { $0 + ($1.isNaN ? 1 : 0) } }

  private init(rows: Int, columns: Int, maxCells: Int, pooling: Pooling) {
    sourceRows = rows
    sourceColumns = columns
    self.rows = max(1, min(rows, maxCells))
    self.columns = max(1, min(columns, maxCells))
    self.pooling = pooling
    values = [Double](repeating: 0, count: self.rows * self.columns)
  }

  /// The cell of every source index.
  private static func cellIndex(total: Int, cells: Int) -> [Int] {
    var out = [Int](repeating: 0, count: total)
    for k in 0..<cells {
      for i in start(k, cells: cells, total: total)..<start(k + 1, cells: cells, total: total) { out[i] = k }
    }
    return out
  }

  /// Block means of the `rows`×`columns` part of a row-major matrix with rows of `stride` values,
  /// starting at column `columnOffset`.
  init(
    means matrix: UnsafeBufferPointer<Float>, stride: Int, columnOffset: Int, rows: Int, columns: Int,
    maxCells: Int
  ) {
    self.init(rows: rows, columns: columns, maxCells: maxCells, pooling: .mean)
    precondition(
      matrix.count >= rows * stride && columnOffset + columns <= stride, "the block is outside the matrix")
    let (cellRows, cellColumns) = (self.rows, self.columns)
    let rowCell = Self.cellIndex(total: rows, cells: cellRows)
    let columnStart = (0...cellColumns).map { Self.start($0, cells: cellColumns, total: columns) }
    values.withUnsafeMutableBufferPointer { sums in
      for r in 0..<rows {
        let row = matrix.baseAddress! + r * stride + columnOffset
        let cellRow = rowCell[r] * cellColumns
        for c in 0..<cellColumns {
          // A NaN or infinity makes the sum non-finite, which marks the cell.
          var sum = 0.0
          for j in columnStart[c]..<columnStart[c + 1] { sum += Double(row[j]) }
          sums[cellRow + c] += sum
        }
      }
      for cr in 0..<cellRows {
        let height =
          Self.start(cr + 1, cells: cellRows, total: rows) - Self.start(cr, cells: cellRows, total: rows)
        for c in 0..<cellColumns {
          let width = columnStart[c + 1] - columnStart[c]
          let sum = sums[cr * cellColumns + c]
          sums[cr * cellColumns + c] = sum.isFinite ? sum / Double(height * width) : .nan
        }
      }
    }
  }

  /// b − a, pooled by the largest magnitude; NaN against NaN and equal infinities count as equal.
  init(
    differenceOf a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, stride: Int,
    columnOffset: Int, rows: Int, columns: Int, maxCells: Int
  ) {
    self.init(rows: rows, columns: columns, maxCells: maxCells, pooling: .largestMagnitude)
    precondition(
      a.count >= rows * stride && b.count >= rows * stride && columnOffset + columns <= stride,
      "the block is outside the matrix")
    let cellColumns = self.columns
    let rowCell = Self.cellIndex(total: rows, cells: self.rows)
    let columnCell = Self.cellIndex(total: columns, cells: cellColumns)
    values.withUnsafeMutableBufferPointer { cells in
      for r in 0..<rows {
        let rowA = a.baseAddress! + r * stride + columnOffset
        let rowB = b.baseAddress! + r * stride + columnOffset
        let cellRow = rowCell[r] * cellColumns
        for j in 0..<columns {
          let x = rowA[j]
          let y = rowB[j]
          if x == y || (x.isNaN && y.isNaN) { continue }
          let d = Double(y) - Double(x)
          let index = cellRow + columnCell[j]
          let current = cells[index]
          if current.isNaN { continue }
          if !d.isFinite {
            cells[index] = .nan
          } else if abs(d) > abs(current) {
            cells[index] = d
          }
        }
      }
    }
  }

  /// The colour limit L: the 99th percentile of |cell| (at least the smallest non-zero |cell|), so
  /// one outlier does not wash the picture out. Cells beyond ±L take the end colours.
  var colourLimit: Double {
    var magnitudes = values.filter(\.isFinite).map(abs)
    guard !magnitudes.isEmpty else { return 1 }
    magnitudes.sort()
    let index = min(magnitudes.count - 1, Int((Double(magnitudes.count - 1) * 0.99).rounded()))
    let limit = magnitudes[index]
    if limit > 0 { return limit }
    return magnitudes.last! > 0 ? magnitudes.last! : 1
  }

  // MARK: Picture

  /// Colour steps on each side of 0.
  static let steps = 16

  /// The colour of level k in −steps…steps: blue below 0, near-white at 0, red above (ColorBrewer RdBu).
  static func colour(level: Int) -> String {
    let anchors: [(Double, Double, Double)] = [
      (33, 102, 172), (103, 169, 207), (247, 247, 247), (239, 138, 98), (178, 24, 43),
    ]
    let t = (Double(level) / Double(steps) + 1) / 2 * Double(anchors.count - 1)
    let i = min(anchors.count - 2, Int(t))
    let f = t - Double(i)
    let (a, b) = (anchors[i], anchors[i + 1])
    func channel(_ x: Double, _ y: Double) -> String {
      let value = Int((x + (y - x) * f).rounded())
      let hex = String(value, radix: 16)
      return hex.count == 1 ? "0" + hex : hex
    }
    return "#" + channel(a.0, b.0) + channel(a.1, b.1) + channel(a.2, b.2)
  }

  static let nonFiniteColour = "#111111"

  /// What a level covers, for the hover text.
  static func levelRange(_ level: Int, limit: Double, pooling: Pooling, pooled: Bool) -> String {
    let what = pooling == .mean ? (pooled ? "mean" : "value") : (pooled ? "largest difference" : "difference")
    let step = limit / Double(steps)
    let lo = (Double(level) - 0.5) * step
    let hi = (Double(level) + 0.5) * step
    if level == steps { return "\(what) above \(HTML.number(lo, digits: 3))" }
    if level == -steps { return "\(what) below \(HTML.number(hi, digits: 3))" }
    return "\(what) \(HTML.number(lo, digits: 3)) to \(HTML.number(hi, digits: 3))"
  }

  /// The cells as an inline SVG of class `heatmap`: one stroked path per colour level, each cell a
  /// unit-length horizontal stroke (runs of equal cells merged), in cell coordinates, so a 256×256
  /// grid costs about 0.5 MB. Cells are drawn square, as large as fits `maxSide` pixels.
  func svg(id: String, label: String, limit: Double, maxSide: Double) -> String {
    let levelCount = 2 * Self.steps + 1
    let nonFinite = levelCount  // the extra bucket
    var paths = [String](repeating: "", count: levelCount + 1)
    var cursorX = [Int](repeating: -1, count: levelCount + 1)
    var cursorY = [Int](repeating: 0, count: levelCount + 1)
    func bucket(_ v: Double) -> Int {
      guard v.isFinite else { return nonFinite }
      // Clamp before converting: v / limit can exceed any Int when the limit is tiny.
      let t = min(max(v / limit, -1), 1)
      return Int((t * Double(Self.steps)).rounded()) + Self.steps
    }
    for r in 0..<rows {
      var c = 0
      while c < columns {
        let b = bucket(values[r * columns + c])
        var end = c + 1
        while end < columns && bucket(values[r * columns + end]) == b { end += 1 }
        if b != Self.steps {  // level 0 is the background
          if cursorX[b] < 0 {
            paths[b] += "M\(c) \(r)h\(end - c)"
          } else {
            paths[b] += "m\(c - cursorX[b]) \(r - cursorY[b])h\(end - c)"
          }
          cursorX[b] = end
          cursorY[b] = r
        }
        c = end
      }
    }
    let cell = min(24, maxSide / Double(max(rows, columns)))
    let width = max(16, Double(columns) * cell)
    let height = max(16, Double(rows) * cell)
    var out =
      "<svg class=\"heatmap\" id=\"\(HTML.escape(id))\" role=\"img\" aria-label=\"\(HTML.escape(label))\""
      + " width=\"\(HTML.coordinate(width))\" height=\"\(HTML.coordinate(height))\" viewBox=\"0 0 \(columns) \(rows)\""
      + " preserveAspectRatio=\"none\" shape-rendering=\"crispEdges\""
      + " data-cell-rows=\"\(rows)\" data-cell-cols=\"\(columns)\""
      + " data-source-rows=\"\(sourceRows)\" data-source-cols=\"\(sourceColumns)\">"
    out +=
      "<rect width=\"\(columns)\" height=\"\(rows)\" fill=\"\(Self.colour(level: 0))\" data-range=\"\(HTML.escape(Self.levelRange(0, limit: limit, pooling: pooling, pooled: isPooled)))\"/>"
    out += "<g fill=\"none\" transform=\"translate(0 0.5)\">"
    for b in 0...levelCount where !paths[b].isEmpty {
      let colour = b == nonFinite ? Self.nonFiniteColour : Self.colour(level: b - Self.steps)
      let range =
        b == nonFinite
        ? "contains NaN or Inf"
        : Self.levelRange(b - Self.steps, limit: limit, pooling: pooling, pooled: isPooled)
      out += "<path stroke=\"\(colour)\" data-range=\"\(HTML.escape(range))\" d=\"\(paths[b])\"/>"
    }
    return out + "</g></svg>"
  }

  /// The colour bar: −L, 0 and +L under a strip of every level.
  static func legend(limit: Double, width: Double = 260) -> String {
    let count = 2 * steps + 1
    let swatch = width / Double(count)
    var out =
      "<svg class=\"legend\" width=\"\(HTML.coordinate(width + 20))\" height=\"34\" viewBox=\"0 0 \(HTML.coordinate(width + 20)) 34\" role=\"img\" aria-label=\"colour scale from \(HTML.escape(HTML.number(-limit))) to \(HTML.escape(HTML.number(limit)))\">"
    for i in 0..<count {
      out +=
        "<rect x=\"\(HTML.coordinate(10 + Double(i) * swatch))\" y=\"2\" width=\"\(HTML.coordinate(swatch + 0.4))\" height=\"12\" fill=\"\(colour(level: i - steps))\"/>"
    }
    out += "<text x=\"10\" y=\"28\" text-anchor=\"start\">\(HTML.number(-limit, digits: 3))</text>"
    out += "<text x=\"\(HTML.coordinate(10 + width / 2))\" y=\"28\" text-anchor=\"middle\">0</text>"
    out +=
      "<text x=\"\(HTML.coordinate(10 + width))\" y=\"28\" text-anchor=\"end\">\(HTML.number(limit, digits: 3))</text>"
    return out + "</svg>"
  }

  /// A sentence saying what a cell is.
  var cellDescription: String {
    let size = "\(HTML.integer(sourceRows))×\(HTML.integer(sourceColumns))"
    let what = pooling == .mean ? "the mean" : "the signed difference of largest magnitude"
    guard isPooled else {
      return pooling == .mean
        ? "\(size); one cell per value." : "\(size); one cell per value, showing the difference."
    }
    func sizes(_ range: ClosedRange<Int>) -> String {
      range.lowerBound == range.upperBound
        ? HTML.integer(range.lowerBound)
        : "\(HTML.integer(range.lowerBound))–\(HTML.integer(range.upperBound))"
    }
    return
      "\(size), shown as \(HTML.integer(rows))×\(HTML.integer(columns)) cells: block size \(sizes(blockRows))×\(sizes(blockColumns)) (rows×columns), each cell \(what) of its block. Cells are drawn square."
  }
}
