import Dispatch
import RNNFormat
import RNNModel
import Synchronization

/// W_x's columns as contiguous rows, prepared only for the tokens a request uses.
///
/// A one-hot input x_t = e_j selects column j of W_x, so a token model needs only the columns of
/// the tokens it sees. The first time a token is seen its column is gathered from W in place (H
/// strided reads, with b folded in) and kept; transposing all of W_x up front would cost a pass
/// over X·H floats before the first answer. A request that needs many new columns at once (more
/// than X/32: scoring a long text, a large batch) transposes W_x whole instead, in parallel: a
/// gathered column reads one cache line per row, so a few thousand columns cost about as much
/// memory traffic as the whole transpose, which then also serves every later token.
///
/// W read from a `.rnn` file verified on first use (``ReadOptions/verifyOnFirstUse``) is verified
/// block by block before any byte of it is read: the blocks under a column before it is gathered
/// (all of W, in one sequential pass, when the new columns would touch more than a quarter of its
/// blocks), all of W before a full transpose.
final class InputColumns: Sendable {
  let hiddenSize: Int
  let inputSize: Int
  /// W as f32: mapped in place, or in memory.
  let matrix: Matrix
  /// b, added to every column (token models); empty for dense ones.
  let bias: [Float]
  private let columns = Mutex<[Int: [Float]]>([:])
  private let transposed = Mutex<[Float]?>(nil)

  enum Matrix: Sendable {
    case mapped(TensorView)
    case owned([Float])
  }

  /// `matrix` must hold H×(H+X) floats.
  init(matrix: Matrix, hiddenSize: Int, inputSize: Int, bias: [Float]) {
    self.matrix = matrix
    self.hiddenSize = hiddenSize
    self.inputSize = inputSize
    self.bias = bias
  }

  func withMatrix<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
    switch matrix {
    case .owned(let values): return values.withUnsafeBufferPointer { body($0.baseAddress!) }
    case .mapped(let view):
      return withExtendedLifetime(view.storage) {
        body(view.storage.base.advanced(by: view.entry.offset).assumingMemoryBound(to: Float.self))
      }
    }
  }

  /// Verifies the bytes of W at the given element ranges (no-op unless W is verified on first use).
  func verify(elements ranges: [Range<Int>]) throws(RuntimeError) {
    guard case .mapped(let view) = matrix, view.deferred != nil else { return }
    do {
      try view.verify(byteRanges: ranges.lazy.map { ($0.lowerBound * 4)..<($0.upperBound * 4) })
    } catch {
      throw .corruptWeights(error)
    }
  }

  /// W_h (H×H), copied out of W's first H columns.
  func recurrentBlock() throws(RuntimeError) -> [Float] {
    let (h, width) = (hiddenSize, hiddenSize + inputSize)
    try verify(elements: (0..<h).map { ($0 * width)..<($0 * width + h) })
    return withMatrix { w in
      [Float](unsafeUninitializedCapacity: h * h) { out, initialized in
        for i in 0..<h { (out.baseAddress! + i * h).update(from: w + i * width, count: h) }
        initialized = h * h
      }
    }
  }

  /// Writes the row of token (input column) `ids[k]`, W_x[:, id] (+ b), to `destination(k)` for
  /// every k, preparing the columns not seen before.
  func copyRows(_ ids: [Int], to destination: (Int) -> UnsafeMutablePointer<Float>) throws(RuntimeError) {
    let h = hiddenSize
    if let all = try prepare(ids) {
      all.withUnsafeBufferPointer { all in
        for (k, id) in ids.enumerated() { destination(k).update(from: all.baseAddress! + id * h, count: h) }
      }
      return
    }
    let known = columns.withLock { $0 }
    for (k, id) in ids.enumerated() {
      known[id]!.withUnsafeBufferPointer { destination(k).update(from: $0.baseAddress!, count: h) }
    }
  }

  /// The full W_xᵀ (X×H), transposing it first if needed (dense inputs multiply by all of it).
  func transposedMatrix() throws(RuntimeError) -> [Float] {
    if let all = transposed.withLock({ $0 }) { return all }
    return try transposeAll()
  }

  /// Makes every column of `ids` available: returns the full transpose when there is one (or when
  /// the request needs enough new columns to make one), else gathers the new columns into the cache.
  /// Preparing a whole prompt at once reads W in one sweep instead of one sweep per token.
  @discardableResult
  func prepare(_ ids: [Int]) throws(RuntimeError) -> [Float]? {
    if let all = transposed.withLock({ $0 }) { return all }
    let known = columns.withLock { $0 }
    var missing: [Int] = []
    var seen = Set<Int>()
    for id in ids where known[id] == nil && seen.insert(id).inserted { missing.append(id) }
    guard !missing.isEmpty else { return nil }
    if missing.count > max(1, inputSize / 32) { return try transposeAll() }
    let gathered = try gather(missing)
    columns.withLock { cache in
      for (id, column) in zip(missing, gathered) { cache[id] = column }
    }
    return nil
  }

  /// Columns `ids` of W_x (+ b), each as H contiguous floats, gathered on the runtime's threads
  /// after the blocks under them are verified.
  private func gather(_ ids: [Int]) throws(RuntimeError) -> [[Float]] {
    let (h, width) = (hiddenSize, hiddenSize + inputSize)
    // In address order (row by row, columns ascending), so W is read in one forward sweep and
    // the blocks to verify come out sorted.
    let order = ids.indices.sorted { ids[$0] < ids[$1] }
    // A column needs a block in every row. When the columns would touch more than a quarter of
    // W's blocks, W is verified whole instead: one sequential pass (read ahead from disk, pages
    // mapped in order) costs less than that many scattered blocks.
    if ids.count * h > (h * width * 4) / Layout.blockSize / 4 {
      try verify(elements: [0..<(h * width)])
    } else {
      var ranges: [Range<Int>] = []
      ranges.reserveCapacity(ids.count * h)
      for i in 0..<h {
        for k in order {
          let at = i * width + h + ids[k]
          ranges.append(at..<(at + 1))
        }
      }
      try verify(elements: ranges)
    }
    let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: ids.count * h)
    defer { out.deallocate() }
    withMatrix { w in
      bias.withUnsafeBufferPointer { b in
        let (w, b, out) = (UnsafeSendable(w), UnsafeSendable(b), UnsafeSendable(out.baseAddress!))
        let folded = !bias.isEmpty
        // Rows split across threads; each thread sweeps its rows of W once for all columns.
        let parts = h >= 256 ? Kernels.threadCount : 1
        let per = (h + parts - 1) / parts
        Kernels.parallelFor(parts) { part in
          for i in (part * per)..<min(h, (part + 1) * per) {
            let row = w.value + i * width + h
            let add = folded ? b.value[i] : 0
            for k in order { out.value[k * h + i] = row[ids[k]] + add }
          }
        }
      }
    }
    return (0..<ids.count).map { Array(UnsafeBufferPointer(rebasing: out[($0 * h)..<(($0 + 1) * h)])) }
  }

  /// Transposes all of W_x (+ b) into an X×H matrix, in 32×32 tiles so that the rows read and the
  /// rows written stay in cache, with the columns split across the runtime's threads; keeps it.
  private func transposeAll() throws(RuntimeError) -> [Float] {
    let (h, x, width) = (hiddenSize, inputSize, hiddenSize + inputSize)
    try verify(elements: [0..<(h * width)])
    let all = withMatrix { w in
      [Float](unsafeUninitializedCapacity: x * h) { out, initialized in
        System.adviseHugePages(out.baseAddress!, byteCount: x * h * MemoryLayout<Float>.stride)
        let tile = 32
        let tiles = (x + tile - 1) / tile
        let parts = min(Kernels.threadCount, tiles)
        let per = (tiles + parts - 1) / parts
        let (w, out) = (UnsafeSendable(w), UnsafeSendable(out.baseAddress!))
        bias.withUnsafeBufferPointer { b in
          let b = UnsafeSendable(b)
          Kernels.parallelFor(parts) { part in
            for j0 in stride(from: part * per * tile, to: min(x, (part + 1) * per * tile), by: tile) {
              for i0 in stride(from: 0, to: h, by: tile) {
                for i in i0..<min(i0 + tile, h) {
                  let row = w.value + i * width + h
                  let add = b.value.isEmpty ? 0 : b.value[i]
                  for j in j0..<min(j0 + tile, x) { out.value[j * h + i] = row[j] + add }
                }
              }
            }
          }
        }
        initialized = x * h
      }
    }
    transposed.withLock { $0 = all }
    columns.withLock { $0 = [:] }
    return all
  }
}
