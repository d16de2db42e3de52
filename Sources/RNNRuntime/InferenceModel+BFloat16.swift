import RNNFormat

/// V stored as bfloat16, read as it is: half the bytes of f32 per token (docs/PERFORMANCE.md,
/// "int8 V and bf16 V"). Forward passes, sessions and scoring give the f32 result of the stored
/// weights: one row widens V in registers, many rows widen blocks of V's rows for sgemm, never all
/// of V. Greedy generation, whose result is only the largest logit, uses the bf16 compute path on
/// CPUs with AVX-512 BF16: h rounded to bfloat16, products summed by vdpbf16ps.
extension InferenceModel {
  /// Whether V is stored as bfloat16 and read so.
  public var outputWeightsAreBFloat16: Bool {
    if case .bfloat(_) = outputWeights { return true }
    return false
  }

  /// The first bfloat16 of a mapped V.
  static func bfloat16Pointer(_ view: TensorView) -> UnsafePointer<UInt16> {
    UnsafePointer(view.storage.base.advanced(by: view.entry.offset).assumingMemoryBound(to: UInt16.self))
  }

  /// z = H·Vᵀ (+ c) for `rows` hidden states with bfloat16 V.
  func bfloat16Logits(
    _ view: TensorView, hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?
  ) {
    let (h, o) = (hiddenSize, outputSize)
    withExtendedLifetime(view.storage) {
      let v = Self.bfloat16Pointer(view)
      if rows == 1 {
        Kernels.gemvBFloat16(m: o, n: h, a: v, x: hidden, bias: bias, y: out, dot: false)
        return
      }
      blockwiseLogits(hidden: hidden, rows: rows, into: out, bias: bias) { start, count, block in
        Kernels.bfloat16ToFloat(v + start * h, block, count: count * h)
      }
    }
  }

  /// The index of the largest logit of V·h + c with bfloat16 V (the first on ties).
  func bfloat16ArgmaxLogits(
    _ view: TensorView, hidden: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>
  )
    -> Int
  {
    let (h, o) = (hiddenSize, outputSize)
    let threads = o * h >= 1 << 20 ? min(Kernels.threadCount, max(1, o / 256)) : 1
    let chunk = ((o + threads - 1) / threads + 3) & ~3
    var best = [(index: Int, value: Float)](repeating: (0, -.infinity), count: threads)
    withExtendedLifetime(view.storage) {
      best.withUnsafeMutableBufferPointer { best in
        outputBias.withUnsafeBufferPointer { c in
          let shared = (
            UnsafeSendable(best.baseAddress!), UnsafeSendable(c.baseAddress!), UnsafeSendable(scratch),
            UnsafeSendable(Self.bfloat16Pointer(view)), UnsafeSendable(hidden)
          )
          Kernels.parallelFor(threads) { t in
            let start = t * chunk
            let rows = min(chunk, o - start)
            guard rows > 0 else { return }
            let out = shared.2.value + start
            Kernels.gemvBFloat16(
              m: rows, n: h, a: shared.3.value + start * h, x: shared.4.value, bias: shared.1.value + start,
              y: out,
              dot: true, threaded: false)
            let i = Kernels.argmax(out, count: rows)
            shared.0.value[t] = (start + i, out[i])
          }
        }
      }
    }
    var winner = best[0]
    for candidate in best.dropFirst() where candidate.value > winner.value { winner = candidate }
    return winner.index
  }
}
