import Dispatch
import Synchronization

extension Layout {
  /// Bytes per checksummed block in format 1.1 (docs/FORMAT.md §4a): one page, so verifying the
  /// blocks a strided read touches costs about the pages it touches anyway.
  public static let blockSize = 4096
  /// The tensor that holds a 1.1 file's block checksums; always the last one in the table.
  public static let blockChecksumsName = "format.block_checksums"
  /// A writer emits format 1.1, with block checksums, when some tensor is larger than this.
  public static let blockChecksumsThreshold = 1 << 20

  /// The number of blocks of a tensor of `byteCount` bytes.
  public static func blockCount(_ byteCount: Int) -> Int { (byteCount + blockSize - 1) / blockSize }
}

/// Hashes a tensor's bytes fed in chunks of any size into its whole-tensor XXH64 and the XXH64 of
/// each of its blocks, in one pass.
struct BlockHasher {
  private(set) var whole = XXH64()
  private var block = XXH64()
  private var filled = 0
  private(set) var blocks: [UInt64] = []

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    whole.update(bytes)
    var start = 0
    while start < bytes.count {
      let take = min(Layout.blockSize - filled, bytes.count - start)
      block.update(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + take)]))
      filled += take
      start += take
      if filled == Layout.blockSize {
        blocks.append(block.digest())
        block = XXH64()
        filled = 0
      }
    }
  }

  /// The block checksums, including the last, partial block.
  mutating func finish() -> [UInt64] {
    if filled > 0 {
      blocks.append(block.digest())
      block = XXH64()
      filled = 0
    }
    return blocks
  }
}

/// The block checksums of a format 1.1 file and which blocks have been verified so far.
///
/// Shared by every view of the file's deferred tensors; safe to use from any thread. A block is
/// hashed the first time a reader asks for it and remembered once it matches, so concurrent
/// readers may both hash a block but never use one that did not match.
public final class BlockChecksums: Sendable {
  private let storage: ByteStorage
  /// Absolute offset of the table: one little-endian u64 per block, tensors in table order.
  private let tableOffset: Int
  private let verified: Mutex<[Bool]>

  init(storage: ByteStorage, tableOffset: Int, blockCount: Int) {
    self.storage = storage
    self.tableOffset = tableOffset
    verified = Mutex([Bool](repeating: false, count: blockCount))
  }

  /// The stored checksum of block `index` of the whole table.
  func stored(_ index: Int) -> UInt64 {
    withExtendedLifetime(storage) {
      UInt64(
        littleEndian: storage.base.loadUnaligned(fromByteOffset: tableOffset + 8 * index, as: UInt64.self))
    }
  }

  /// Verifies the `blocks` (indices relative to `entry`'s first block `first`) not yet verified,
  /// on all cores when there are many; throws for the first that does not match, naming `entry`.
  func verify(_ entry: TensorEntry, first: Int, blocks: [Int]) throws(FormatError) {
    let pending = verified.withLock { flags in blocks.filter { !flags[first + $0] } }
    guard !pending.isEmpty else { return }
    let sorted = !zip(pending, pending.dropFirst()).contains(where: { $0 >= $1 })
    let unique = sorted ? pending : Array(Set(pending)).sorted()
    let computed = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: unique.count)
    defer { computed.deallocate() }
    let (out, base) = (UnsafeSendablePointer(computed.baseAddress!), UnsafeSendablePointer(storage.base))
    // 2 MiB of consecutive blocks per task: threads then fault in different (large) page-cache
    // folios instead of contending for the same one, and each streams like a whole-tensor hash.
    let perTask = 512
    let tasks = (unique.count + perTask - 1) / perTask
    withExtendedLifetime(storage) {
      DispatchQueue.concurrentPerform(iterations: tasks) { task in
        for slot in (task * perTask)..<min(unique.count, (task + 1) * perTask) {
          let start = unique[slot] * Layout.blockSize
          let end = min(start + Layout.blockSize, entry.byteCount)
          out.value[slot] = XXH64.hash(
            UnsafeRawBufferPointer(start: base.value + entry.offset + start, count: end - start))
        }
      }
    }
    var failure: (block: Int, computed: UInt64)?
    for (slot, block) in unique.enumerated() where computed[slot] != stored(first + block) {
      failure = (block, computed[slot])
      break
    }
    verified.withLock { flags in
      for (slot, block) in unique.enumerated() where computed[slot] == stored(first + block) {
        flags[first + block] = true
      }
    }
    if let failure {
      throw mismatch(entry, first: first, block: failure.block, computed: failure.computed)
    }
  }

  /// Verifies a copy of consecutive blocks of `entry` (relative to its first block `first`),
  /// `bytes` starting at the first byte of block `block` and ending at a block boundary or the
  /// tensor's end, and remembers them as verified; throws for the first that does not match.
  /// Every block is hashed, even one verified before: the copy is new bytes.
  func verify(_ entry: TensorEntry, first: Int, copied bytes: UnsafeRawBufferPointer, from block: Int)
    throws(FormatError)
  {
    let count = Layout.blockCount(bytes.count)
    for n in 0..<count {
      let start = n * Layout.blockSize
      let computed = XXH64.hash(
        UnsafeRawBufferPointer(rebasing: bytes[start..<min(start + Layout.blockSize, bytes.count)]))
      if computed != stored(first + block + n) {
        throw mismatch(entry, first: first, block: block + n, computed: computed)
      }
    }
    verified.withLock { flags in
      for n in 0..<count { flags[first + block + n] = true }
    }
  }

  private func mismatch(_ entry: TensorEntry, first: Int, block: Int, computed: UInt64) -> FormatError {
    let start = block * Layout.blockSize
    let end = min(start + Layout.blockSize, entry.byteCount)
    return .checksumMismatch(
      part: "tensor \"\(entry.name)\" block \(block) (bytes \(start)..<\(end))",
      stored: stored(first + block), computed: computed)
  }

  /// Whether every block of the tensor starting at block `first` with `count` blocks is verified.
  func allVerified(first: Int, count: Int) -> Bool {
    verified.withLock { flags in !flags[first..<(first + count)].contains(false) }
  }
}

/// A pointer carried into a concurrent loop whose iterations touch disjoint parts.
struct UnsafeSendablePointer<P>: @unchecked Sendable {
  let value: P
  init(_ value: P) { self.value = value }
}

/// How a tensor view whose checksum was not verified when the file was opened gets verified: block
/// by block, the first time its bytes are used (``ReadOptions/verifyOnFirstUse``).
public struct DeferredVerification: Sendable {
  let checksums: BlockChecksums
  /// The tensor's first block in the file's table.
  let firstBlock: Int
}

extension TensorView {
  /// Whether bytes of this view may still be unverified: it comes from a format 1.1 file opened
  /// with ``ReadOptions/verifyOnFirstUse`` and not every block has been verified yet.
  public var hasUnverifiedBytes: Bool {
    guard let deferred else { return false }
    return !deferred.checksums.allVerified(
      first: deferred.firstBlock, count: Layout.blockCount(entry.byteCount))
  }

  /// Verifies the blocks that hold the bytes in `ranges` (offsets from the tensor's first byte,
  /// each within the tensor) unless they were verified before. Throws
  /// ``FormatError/checksumMismatch(part:stored:computed:)`` naming the tensor and the block.
  /// Does nothing for views whose checksums were verified when the file was opened (or skipped).
  public func verify(byteRanges ranges: some Sequence<Range<Int>>) throws(FormatError) {
    guard let deferred else { return }
    var blocks: [Int] = []
    for range in ranges where !range.isEmpty {
      precondition(range.lowerBound >= 0 && range.upperBound <= entry.byteCount, "range outside the tensor")
      let first = range.lowerBound / Layout.blockSize
      let last = (range.upperBound - 1) / Layout.blockSize
      // Ranges that share a block (neighbouring rows of a column, say) list it once.
      for block in first...last where blocks.last != block { blocks.append(block) }
    }
    try deferred.checksums.verify(entry, first: deferred.firstBlock, blocks: blocks)
  }

  /// Verifies every block of the tensor not verified before, on all cores.
  public func verify() throws(FormatError) {
    try verify(byteRanges: CollectionOfOne(0..<entry.byteCount))
  }
}
