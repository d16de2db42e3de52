/// How a tensor's finite values spread over equal-width bins, with its NaN and infinite values counted apart.
public struct TensorHistogram: Equatable, Sendable {
  /// The left edge of the first bin.
  public var lowerBound: Double
  /// The right edge of the last bin (the largest value falls in the last bin).
  public var upperBound: Double
  /// Finite values per bin, left to right.
  public var counts: [Int]
  /// NaN values, which no bin holds.
  public var nanCount: Int
  /// +Inf values, which no bin holds.
  public var positiveInfinityCount: Int
  /// −Inf values, which no bin holds.
  public var negativeInfinityCount: Int

  /// The width of one bin (0 when every finite value is the same).
  public var binWidth: Double { counts.isEmpty ? 0 : (upperBound - lowerBound) / Double(counts.count) }
  /// How many finite values were binned.
  public var finiteCount: Int { counts.reduce(0, +) }

  /// Bins `values` into `bins` equal bins over `range`, or over their finite minimum and maximum
  /// when `range` is nil. Values outside `range` go to the first or last bin, so a shared range
  /// (for two tensors drawn side by side) loses no value.
  public init(_ values: UnsafeBufferPointer<Float>, bins: Int, range: ClosedRange<Double>? = nil) {
    precondition(bins > 0, "a histogram needs at least one bin")
    if let range {
      lowerBound = range.lowerBound
      upperBound = range.upperBound
    } else {
      var lo = Float.infinity
      var hi = -Float.infinity
      for v in values where v.isFinite {
        lo = Swift.min(lo, v)
        hi = Swift.max(hi, v)
      }
      lowerBound = lo <= hi ? Double(lo) : 0
      upperBound = lo <= hi ? Double(hi) : 0
    }
    var nan = 0
    var positive = 0
    var negative = 0
    var counts = [Int](repeating: 0, count: bins)
    let span = upperBound - lowerBound
    let scale = span > 0 ? Double(bins) / span : 0
    let base = lowerBound
    let last = bins - 1
    counts.withUnsafeMutableBufferPointer { counts in
      for v in values {
        guard v.isFinite else {
          if v.isNaN {
            nan += 1
          } else if v > 0 {
            positive += 1
          } else {
            negative += 1
          }
          continue
        }
        let position = (Double(v) - base) * scale
        // Clamp in floating point first: an outlier far outside a given range must not overflow Int.
        let bin = position <= 0 ? 0 : (position >= Double(last) ? last : Int(position))
        counts[bin] += 1
      }
    }
    self.counts = counts
    nanCount = nan
    positiveInfinityCount = positive
    negativeInfinityCount = negative
  }

  /// The counts as a one-line sparkline of block characters, one per bin: a blank bin is a space,
  /// any other is at least the lowest block, so a rare value stays visible.
  public var sparkline: String {
    let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    guard let top = counts.max(), top > 0 else { return String(repeating: " ", count: counts.count) }
    return String(
      counts.map { count -> Character in
        guard count > 0 else { return " " }
        let level = (count * blocks.count - 1) / top
        return blocks[Swift.min(level, blocks.count - 1)]
      })
  }
}

extension Parameter {
  /// A histogram of the parameter's values (see ``TensorHistogram/init(_:bins:range:)``).
  public func histogram(bins: Int, range: ClosedRange<Double>? = nil) -> TensorHistogram {
    withFloats { TensorHistogram($0, bins: bins, range: range) }
  }
}
