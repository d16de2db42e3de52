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
/// block by block before any byte of it is read. W_h's rows and a column touch every row of W, and
/// a fault on a mapped page maps its whole page-cache folio (up to 2 MiB on recent Linux), so
/// reading them through the mapping would make nearly all of W resident. They are read from the
/// file instead (``TensorView/withVerifiedBytes(of:_:)``): copies of the blocks under them,
/// verified, the floats taken from the copies. Once the blocks so read add up to half of W (a long
/// generation, a column per new token), later columns are read in place after their blocks are
/// verified (all of W, in one sequential pass, when they would touch more than a quarter of its
/// blocks), and all of W is verified in place before a full transpose, which reads all of it.
final class InputColumns: Sendable {
  let hiddenSize: Int
  let inputSize: Int
  /// W as f32: mapped in place, or in memory.
  let matrix: Matrix
  /// b, added to every column (token models); empty for dense ones.
  let bias: [Float]
  private let columns = Mutex<[Int: [Float]]>([:])
  private let transposed = Mutex<[Float]?>(nil)
  /// Blocks of W copied out of the file so far (``readsFromFile(blocks:)``).
  private let blocksFromFile = Mutex(0)

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

  /// Whether a sparse read of about `blocks` blocks of W should copy them out of the file
  /// (``TensorView/withVerifiedBytes(of:_:)``) instead of reading them through the mapping: only
  /// for mapped W verified on first use, and only while all such reads together stay within half
  /// of W's blocks. A block copied out costs a system call and a copy, several times what hashing
  /// it in place costs, so past about half of W (a long generation, a column per new token; a
  /// request for many columns) mapping W, resident once and then reread for free, is faster.
  private func readsFromFile(blocks: Int) -> Bool {
    guard case .mapped(let view) = matrix, view.deferred != nil, view.storage.isMappedFile else {
      return false
    }
    let budget = Layout.blockCount(view.entry.byteCount) / 2
    return blocksFromFile.withLock { total in
      guard total + blocks <= budget else { return false }
      total += blocks
      return true
    }
  }

  /// Calls `body(part, k, floats)` with the floats of W at `ranges(part)[k]` (sorted element
  /// ranges) for every part, the parts on the runtime's threads. `fromFile` reads mapped W with
  /// ``TensorView/withVerifiedBytes(of:_:)`` (verified copies of the blocks, the mapping never
  /// touched); otherwise the floats are read in place, which the caller has verified.
  private func read(
    parts: Int, fromFile: Bool, ranges: @Sendable (Int) -> [Range<Int>],
    _ body: @Sendable (Int, Int, UnsafePointer<Float>) -> Void
  ) throws(RuntimeError) {
    guard fromFile, case .mapped(let view) = matrix else {
      withMatrix { w in
        let w = UnsafeSendable(w)
        Kernels.parallelFor(parts) { part in
          for (k, range) in ranges(part).enumerated() { body(part, k, w.value + range.lowerBound) }
        }
      }
      return
    }
    let failure = Mutex<FormatError?>(nil)
    Kernels.parallelFor(parts) { part in
      do throws(FormatError) {
        try view.withVerifiedBytes(of: ranges(part).map { ($0.lowerBound * 4)..<($0.upperBound * 4) }) {
          k, bytes in
          // Element offsets and the file's 64-byte aligned tensors keep floats aligned.
          body(part, k, bytes.baseAddress!.assumingMemoryBound(to: Float.self))
        }
      } catch {
        failure.withLock { $0 = $0 ?? error }
      }
    }
    if let error = failure.withLock({ $0 }) { throw .corruptWeights(error) }
  }

  /// W_h (H×H), copied out of W's first H columns.
  func recurrentBlock() throws(RuntimeError) -> [Float] {
    let (h, width) = (hiddenSize, hiddenSize + inputSize)
    let parts = h >= 256 ? Kernels.threadCount : 1
    let per = (h + parts - 1) / parts
    let rows = { @Sendable (part: Int) in
      (part * per..<min(h, (part + 1) * per)).map { ($0 * width)..<($0 * width + h) }
    }
    // A row of W_h lies in at most one block more than its length fills.
    let fromFile = readsFromFile(blocks: h * (Layout.blockCount(h * 4) + 1))
    if !fromFile { try verify(elements: (0..<parts).flatMap(rows)) }
    var failure: RuntimeError?
    let block = [Float](unsafeUninitializedCapacity: h * h) { out, initialized in
      let target = UnsafeSendable(out.baseAddress!)
      do throws(RuntimeError) {
        try read(parts: parts, fromFile: fromFile, ranges: rows) { part, k, row in
          (target.value + (part * per + k) * h).update(from: row, count: h)
        }
      } catch {
        failure = error
      }
      initialized = h * h
    }
    if let failure { throw failure }
    return block
  }

  /// Writes the row of token (input column) `ids[k]`, W_x[:, id] (+ b), to `destination(k)` for
  /// every k, preparing the columns not seen before. Rows of more bytes than L2 holds are copied
  /// on the runtime's threads: the destination is usually fresh memory, whose page faults (the
  /// kernel zeroing each page) then run in parallel too, instead of one thread while others wait.
  func copyRows(_ ids: [Int], to destination: (Int) -> UnsafeMutablePointer<Float>) throws(RuntimeError) {
    let rows = try preparedRows(ids)
    if case .transposed = rows.source {
      let threads = Kernels.splitThreads(
        bytes: ids.count * hiddenSize * MemoryLayout<Float>.stride, rows: ids.count, rowsPerThread: 64)
      if threads > 1 {
        let targets = ids.indices.map { UnsafeSendable(destination($0)) }
        let per = (ids.count + threads - 1) / threads
        Kernels.parallelFor(threads) { part in
          rows.copy((part * per)..<min(ids.count, (part + 1) * per)) { targets[$0].value }
        }
        return
      }
    }
    rows.copy(ids.indices, to: destination)
  }

  /// The rows of `ids` with every column prepared, to copy later, a range at a time, on any thread.
  func preparedRows(_ ids: [Int]) throws(RuntimeError) -> PreparedRows {
    if let all = try prepare(ids) {
      return PreparedRows(ids: ids, hiddenSize: hiddenSize, source: .transposed(all))
    }
    return PreparedRows(ids: ids, hiddenSize: hiddenSize, source: .columns(columns.withLock { $0 }))
  }

  /// Rows of W_x's columns (+ b) for a list of tokens, all of them prepared.
  struct PreparedRows: Sendable {
    enum Source: Sendable {
      /// All of W_xᵀ.
      case transposed([Float])
      /// The columns prepared so far, by token.
      case columns([Int: [Float]])
    }
    let ids: [Int]
    let hiddenSize: Int
    let source: Source

    /// Writes the row of `ids[k]` to `destination(k)` for every k in `range`.
    func copy(_ range: Range<Int>, to destination: (Int) -> UnsafeMutablePointer<Float>) {
      let h = hiddenSize
      switch source {
      case .transposed(let all):
        all.withUnsafeBufferPointer { all in
          for k in range { destination(k).update(from: all.baseAddress! + ids[k] * h, count: h) }
        }
      case .columns(let known):
        for k in range {
          known[ids[k]]!.withUnsafeBufferPointer { destination(k).update(from: $0.baseAddress!, count: h) }
        }
      }
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
  /// from verified bytes: copies of the blocks under them read from the file while
  /// ``readsFromFile(blocks:)`` allows, else read in place after the blocks under them are
  /// verified (all of W, in one sequential pass, when they would be more than a quarter of its
  /// blocks: that costs less than so many scattered blocks).
  private func gather(_ ids: [Int]) throws(RuntimeError) -> [[Float]] {
    let (h, width) = (hiddenSize, hiddenSize + inputSize)
    // In address order (row by row, columns ascending), so W is read in one forward sweep and
    // columns that share a block are read together.
    let order = ids.indices.sorted { ids[$0] < ids[$1] }
    let columns = order.map { h + ids[$0] }
    // Rows split across threads; each thread sweeps its rows of W once for all columns.
    let parts = h >= 256 ? Kernels.threadCount : 1
    let per = (h + parts - 1) / parts
    let n = columns.count
    let cells = { @Sendable (part: Int) in
      var ranges: [Range<Int>] = []
      ranges.reserveCapacity(per * n)
      for i in (part * per)..<min(h, (part + 1) * per) {
        for j in columns { ranges.append((i * width + j)..<(i * width + j + 1)) }
      }
      return ranges
    }
    let fromFile = readsFromFile(blocks: n * h)
    if !fromFile {
      if n * h > (h * width * 4) / Layout.blockSize / 4 {
        try verify(elements: [0..<(h * width)])
      } else {
        try verify(elements: (0..<parts).flatMap(cells))
      }
    }
    let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * h)
    defer { out.deallocate() }
    let target = UnsafeSendable(out.baseAddress!)
    let add = bias
    try read(parts: parts, fromFile: fromFile, ranges: cells) { part, k, value in
      let i = part * per + k / n
      target.value[order[k % n] * h + i] = value.pointee + (add.isEmpty ? 0 : add[i])
    }
    return (0..<n).map { Array(UnsafeBufferPointer(rebasing: out[($0 * h)..<(($0 + 1) * h)])) }
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
