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
    let h = hiddenSize
    return withExtendedLifetime(view.storage) {
      outputBias.withUnsafeBufferPointer { c in
        let shared = (
          UnsafeSendable(c.baseAddress!), UnsafeSendable(Self.bfloat16Pointer(view)), UnsafeSendable(hidden)
        )
        return blockArgmax(scratch: scratch) { start, rows, out in
          Kernels.gemvBFloat16(
            m: rows, n: h, a: shared.1.value + start * h, x: shared.2.value, bias: shared.0.value + start,
            y: out, dot: true, threaded: false)
        }
      }
    }
  }
}
