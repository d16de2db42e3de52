extension TensorView {
  /// The longest byte range ``withVerifiedBytes(of:_:)`` takes.
  public static let verifiedReadLimit = 1 << 20
  /// Reads that need at least 1/`denseReadFraction` of the blocks in their span read it all ahead.
  static let denseReadFraction = 8

  /// Calls `body(k, bytes)` with the bytes of `ranges[k]` (offsets from the tensor's first byte),
  /// for every k in order, each verified before `body` sees it, as ``verify(byteRanges:)`` does.
  ///
  /// A view verified on first use whose storage is a mapped file reads the blocks under the
  /// ranges with `pread`, verifies the copies and hands out bytes of the copies: the mapping is
  /// never touched, so a sparse read (a column of a row-major matrix, the first columns of each
  /// row) does not make the pages around it resident (on Linux a fault maps a whole page-cache
  /// folio, up to 2 MiB), and only verified bytes are used even if the file changes later.
  /// Ranges that share or adjoin blocks are read together. Other views hand out their bytes in
  /// place, after verifying the blocks under them if they are verified on first use.
  ///
  /// `ranges` must be sorted by their lower bounds, lie within the tensor and each span at most
  /// ``verifiedReadLimit`` bytes. Throws ``FormatError/checksumMismatch(part:stored:computed:)``
  /// naming the tensor and the block, or ``FormatError/truncated(part:needed:available:)`` if the
  /// file shrank since it was opened.
  public func withVerifiedBytes(of ranges: [Range<Int>], _ body: (Int, UnsafeRawBufferPointer) -> Void)
    throws(FormatError)
  {
    let size = Layout.blockSize
    // The distinct blocks under the ranges, and the span from the first to the last.
    var (previous, blocks, lowest, highest) = (0, 0, Int.max, -1)
    for range in ranges {
      precondition(range.lowerBound >= 0 && range.upperBound <= entry.byteCount, "range outside the tensor")
      precondition(range.lowerBound >= previous, "ranges not sorted")
      precondition(range.count <= Self.verifiedReadLimit, "range too long")
      previous = range.lowerBound
      guard !range.isEmpty else { continue }
      let (first, last) = (range.lowerBound / size, (range.upperBound - 1) / size)
      blocks += max(0, last - max(first - 1, highest))
      (lowest, highest) = (min(lowest, first), max(highest, last))
    }
    guard let deferred, storage.isMappedFile else {
      try verify(byteRanges: ranges)
      withExtendedLifetime(storage) {
        let start = storage.base + entry.offset
        for (k, range) in ranges.enumerated() {
          body(k, UnsafeRawBufferPointer(start: start + range.lowerBound, count: range.count))
        }
      }
      return
    }
    // Blocks read one by one from disk cost a seek each; when they are dense enough in their
    // span, the whole span is read ahead sequentially instead (a page cache that holds it
    // already makes this cheap).
    if highest >= lowest, blocks * Self.denseReadFraction >= highest - lowest + 1 {
      storage.adviseWillRead(offset: entry.offset + lowest * size, count: (highest - lowest + 1) * size)
    }
    // A range of at most the limit spans at most one block more than the limit holds.
    let capacity = Self.verifiedReadLimit / size + 1
    // A run reads only blocks some range needs, so it never holds more than all of them.
    let buffer = UnsafeMutableRawBufferPointer.allocate(
      byteCount: max(1, min(capacity, blocks)) * size, alignment: 64)
    defer { buffer.deallocate() }
    var k = 0
    while k < ranges.count {
      if ranges[k].isEmpty {
        body(k, UnsafeRawBufferPointer(start: buffer.baseAddress, count: 0))
        k += 1
        continue
      }
      // One read for the run of blocks under ranges[k] and the ranges after it that share or
      // adjoin them, up to the buffer's capacity.
      let first = ranges[k].lowerBound / size
      var last = (ranges[k].upperBound - 1) / size
      var end = k + 1
      while end < ranges.count {
        let next = ranges[end]
        if next.isEmpty {
          end += 1
          continue
        }
        let nextLast = (next.upperBound - 1) / size
        guard next.lowerBound / size <= last + 1, max(last, nextLast) - first < capacity else { break }
        last = max(last, nextLast)
        end += 1
      }
      let start = first * size
      let run = UnsafeMutableRawBufferPointer(
        rebasing: buffer[0..<(min((last + 1) * size, entry.byteCount) - start)])
      try storage.read(into: run, at: entry.offset + start, part: "tensor \"\(entry.name)\"")
      try deferred.checksums.verify(
        entry, first: deferred.firstBlock, copied: UnsafeRawBufferPointer(run), from: first)
      for n in k..<end {
        let range = ranges[n]
        let offset = range.isEmpty ? 0 : range.lowerBound - start
        body(n, UnsafeRawBufferPointer(start: run.baseAddress! + offset, count: range.count))
      }
      k = end
    }
  }
}
