import CKernels
import Dispatch

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Every call from RNNTraining into C (the training kernels of CKernels, and sysconf) passes through
// this file. The kernels take the instruction-set level explicitly: the caller's level is read once
// per window and handed to the worker threads, so a level forced by a test holds on all of them.
enum TrainingKernels {
  /// Time steps per tile: the kernels' lanes, whatever the CPU's vector width.
  static let steps = Int(RK_TRAIN_STEPS)
  /// Vocabulary rows per block. Sums over the vocabulary are taken per block and then in block
  /// order, so the thread count never changes a result.
  static let block = Int(RK_TRAIN_BLOCK)

  /// The processors online, at least 1.
  static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

  /// Runs `body(first..<end)` over `count` blocks split into `threads` contiguous runs, one per
  /// thread. Which thread runs a block never changes what the block computes.
  static func forEachBlock(_ count: Int, threads: Int, _ body: @Sendable (Range<Int>) -> Void) {
    let parts = min(threads, count)
    if parts <= 1 {
      body(0..<count)
      return
    }
    DispatchQueue.concurrentPerform(iterations: parts) { part in
      body((part * count / parts)..<((part + 1) * count / parts))
    }
  }

  static func logits(
    level: Int32, V: UnsafePointer<Float>, c: UnsafePointer<Float>, H: Int, O: Int, rows: Range<Int>,
    states: UnsafePointer<Float>, tiles: Int, n: Int, targets: UnsafePointer<Int>,
    logits: UnsafeMutablePointer<Float>,
    blockMax: UnsafeMutablePointer<Float>, blockSum: UnsafeMutablePointer<Float>,
    targetLogit: UnsafeMutablePointer<Float>
  ) {
    rk_train_logits(
      level, V, c, H, O, rows.lowerBound, rows.count, states, tiles, n, targets, logits, blockMax, blockSum,
      targetLogit)
  }

  static func combine(
    level: Int32, blocks: Int, tiles: Int, n: Int, blockMax: UnsafePointer<Float>,
    blockSum: UnsafePointer<Float>,
    targetLogit: UnsafePointer<Float>, scale: UnsafeMutablePointer<Float>
  ) -> Float {
    rk_train_softmax_combine(level, blocks, tiles, n, blockMax, blockSum, targetLogit, scale)
  }

  static func outputBackward(
    level: Int32, V: UnsafePointer<Float>, H: Int, O: Int, rows: Range<Int>,
    logits: UnsafeMutablePointer<Float>,
    scale: UnsafePointer<Float>, tiles: Int, n: Int, targets: UnsafePointer<Int>, hs: UnsafePointer<Float>,
    dV: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>, partial: UnsafeMutablePointer<Float>
  ) -> Double {
    rk_train_output_backward(
      level, V, H, O, rows.lowerBound, rows.count, logits, scale, tiles, n, targets, hs, dV, dc, partial)
  }

  static func sumPartials(
    level: Int32, blocks: Int, tiles: Int, H: Int, n: Int, partials: UnsafePointer<Float>,
    dHs: UnsafeMutablePointer<Float>
  ) {
    rk_train_sum_partials(level, blocks, tiles, H, n, partials, dHs)
  }

  /// a[i] = (b[i] + W[i][H + x]) + W[i][0..<H]·h, W with row stride `stride`.
  static func recurrentForward(
    level: Int32, W: UnsafePointer<Float>, stride: Int, H: Int, h: UnsafePointer<Float>, x: Int,
    b: UnsafePointer<Float>, a: UnsafeMutablePointer<Float>
  ) {
    rk_train_recurrent_forward(level, W, stride, H, h, x, b, a)
  }

  /// dWh[i][:] += da[i]·hPrev, and dhNext = Σ_i da[i]·W[i][0..<H].
  static func recurrentBackward(
    level: Int32, W: UnsafePointer<Float>, stride: Int, H: Int, da: UnsafePointer<Float>,
    hPrev: UnsafePointer<Float>, dWh: UnsafeMutablePointer<Float>, dhNext: UnsafeMutablePointer<Float>
  ) {
    rk_train_recurrent_backward(level, W, stride, H, da, hPrev, dWh, dhNext)
  }

  /// h = tanh(a), n elements, by the kernels' own approximation (no C library call).
  static func tanh(level: Int32, _ a: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Float>, count: Int) {
    rk_train_tanh(level, a, h, count)
  }

  /// x[i] += step·g[i].
  static func step(
    level: Int32, _ x: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, count: Int, step: Float
  ) {
    rk_train_step(level, x, g, count, step)
  }
}
