import RNNModel

/// V stored as int8 rows with one scale each, read as it is (docs/PERFORMANCE.md, "int8 V").
///
/// Each product quantizes the hidden state too, per vector: h ≈ s_h·hq with s_h = max|h|/127 and hq
/// in [-127, 127]; then logit r = c[r] + float(Σ_k q[r, k]·hq[k])·(scale[r]·s_h), the integer sum
/// exact on every instruction-set level. Quantizing h adds at most s_h/2 per element, so at most
/// scale[r]·Σ_k |q[r, k]|·s_h/2 to logit r (typically √H/√12 times less).
struct Int8OutputWeights: Sendable {
  let matrix: QuantizedMatrix
  /// Σ_k q[r, k] per row, for the VNNI kernels.
  let rowSums: [Int32]

  init(_ matrix: QuantizedMatrix) {
    self.matrix = matrix
    rowSums = matrix.withIntegers { q in
      Kernels.rowSums(q.baseAddress!, rows: matrix.rows, cols: matrix.columns)
    }
  }

  /// Calls `body` with the integers, the scales and the row sums.
  func withPointers<R>(
    _ body: (UnsafePointer<Int8>, UnsafePointer<Float>, UnsafePointer<Int32>) -> R
  ) -> R {
    matrix.withIntegers { q in
      matrix.scales.withUnsafeBufferPointer { scales in
        rowSums.withUnsafeBufferPointer { sums in body(q.baseAddress!, scales.baseAddress!, sums.baseAddress!)
        }
      }
    }
  }
}

extension InferenceModel {
  /// Whether V is stored as int8 and the products read it so.
  public var outputWeightsAreInt8: Bool {
    if case .int8 = outputWeights { return true }
    return false
  }

  /// z = H·Vᵀ (+ c) for `rows` hidden states with int8 V: one matrix-vector product for one row,
  /// else the matrix-matrix kernel over every row at once.
  func int8Logits(
    _ v: Int8OutputWeights, hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?
  ) {
    let (h, o) = (hiddenSize, outputSize)
    let quantized = UnsafeMutablePointer<Int8>.allocate(capacity: rows * h)
    defer { quantized.deallocate() }
    var scales = [Float](repeating: 0, count: rows)
    for r in 0..<rows { scales[r] = Kernels.quantize(hidden + r * h, count: h, into: quantized + r * h) }
    v.withPointers { q, rowScales, sums in
      scales.withUnsafeBufferPointer { xScales in
        if rows == 1 {
          Kernels.gemvInt8(
            m: o, n: h, a: q, scales: rowScales, rowSums: sums, x: quantized, xScale: xScales[0], bias: bias,
            y: out)
        } else {
          Kernels.gemmInt8(
            m: o, n: h, a: q, scales: rowScales, rowSums: sums, x: quantized, count: rows,
            xScales: xScales.baseAddress!, bias: bias, c: out, ldc: o)
        }
      }
    }
  }

  /// The index of the largest logit of V·h + c with int8 V (the first on ties): h is quantized
  /// once, then each thread computes a block of rows and its maximum.
  func int8ArgmaxLogits(
    _ v: Int8OutputWeights, hidden: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>
  )
    -> Int
  {
    let h = hiddenSize
    var hq = [Int8](repeating: 0, count: h)
    let scale = hq.withUnsafeMutableBufferPointer {
      Kernels.quantize(hidden, count: h, into: $0.baseAddress!)
    }
    return outputBias.withUnsafeBufferPointer { c in
      hq.withUnsafeBufferPointer { hq in
        v.withPointers { q, scales, sums in
          let shared = (
            UnsafeSendable(c.baseAddress!), UnsafeSendable(q), UnsafeSendable(scales), UnsafeSendable(sums),
            UnsafeSendable(hq.baseAddress!)
          )
          return blockArgmax(scratch: scratch) { start, rows, out in
            Kernels.gemvInt8Block(
              m: rows, n: h, a: shared.1.value + start * h, scales: shared.2.value + start,
              rowSums: shared.3.value + start, x: shared.4.value, xScale: scale, bias: shared.0.value + start,
              y: out)
          }
        }
      }
    }
  }
}
