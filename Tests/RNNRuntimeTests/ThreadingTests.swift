import CKernels
import Dispatch
import RNNFormat
import RNNModel
import Synchronization
import Testing

@testable import RNNRuntime

/// The runtime's worker pool and its threading decisions: every iteration runs once, nested and
/// concurrent loops still finish, and a product split across any number of threads gives the same
/// bits as on one thread (no timing here: which split is faster is the benchmarks' business).
@Suite struct ThreadingTests {
  /// Pools of their own with three helpers (more threads than this machine may have), one per test,
  /// since tests run at the same time and a pool runs one loop at a time.
  static let pool = WorkerPool(helpers: 3)
  static let nestingPool = WorkerPool(helpers: 3)

  @Test func everyIterationRunsOnce() {
    for count in [2, 3, 4, 5, 17, 1000] {
      // Each iteration writes only its own slot, so the counts need no atomics.
      var hits = [Int](repeating: 0, count: count)
      hits.withUnsafeMutableBufferPointer { hits in
        let hits = UnsafeSendable(hits.baseAddress!)
        for _ in 0..<50 {
          #expect(Self.pool.run(count: count) { i in hits.value[i] += 1 })
        }
      }
      #expect(hits == [Int](repeating: 50, count: count), "each of \(count) iterations runs once per loop")
    }
  }

  // A loop run under a forced kernel level and features runs every iteration at them, on the
  // pool's helpers and on libdispatch's threads (a loop inside a loop) alike, and the helpers
  // return to the CPU's own afterwards.
  @Test func loopsRunAtTheCallersForcedLevel() {
    let portable = Int(RK_LEVEL_PORTABLE)
    let count = 64
    var seen = [Int](repeating: -1, count: count * count)
    seen.withUnsafeMutableBufferPointer { seen in
      let seen = UnsafeSendable(seen.baseAddress!)
      let ran = Kernels.atLevel(portable) {
        _ = Kernels.withFeatures(0) {
          #expect(
            Self.nestingPool.run(count: count) { i in
              seen.value[i * count] = Int(rk_level()) * 1_000 + Int(rk_features())
              // The pool is busy: the inner loop goes to libdispatch.
              Kernels.parallelFor(count - 1) { j in
                seen.value[i * count + j + 1] = Int(rk_level()) * 1_000 + Int(rk_features())
              }
            })
        }
      }
      #expect(ran)
    }
    #expect(seen.allSatisfy { $0 == portable * 1_000 }, "\(Set(seen).sorted())")
    var after = [Int](repeating: -1, count: count)
    after.withUnsafeMutableBufferPointer { after in
      let after = UnsafeSendable(after.baseAddress!)
      #expect(Self.nestingPool.run(count: count) { i in after.value[i] = Int(rk_level()) })
    }
    #expect(after.allSatisfy { $0 == Kernels.cpuLevel }, "\(Set(after).sorted())")
  }

  @Test func aLoopInsideALoopIsRefusedAndTheCallerFallsBack() {
    let inner = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    #expect(
      Self.nestingPool.run(count: 4) { _ in
        if !Self.nestingPool.run(count: 2, { _ in inner.add(1, ordering: .relaxed) }) {
          refused.add(1, ordering: .relaxed)
        }
      })
    #expect(refused.load(ordering: .relaxed) == 4, "the pool is held by the outer loop")
    #expect(inner.load(ordering: .relaxed) == 0)
    // Through Kernels.parallelFor, a nested loop runs on libdispatch's threads instead.
    let total = Atomic<Int>(0)
    Kernels.parallelFor(3) { _ in Kernels.parallelFor(5) { i in total.add(i + 1, ordering: .relaxed) } }
    #expect(total.load(ordering: .relaxed) == 3 * 15)
  }

  @Test func concurrentCallersAllFinish() {
    let total = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 6) { _ in
      for _ in 0..<200 {
        Kernels.parallelFor(4) { i in total.add(i, ordering: .relaxed) }
      }
    }
    #expect(total.load(ordering: .relaxed) == 6 * 200 * 6)
  }

  static let shapes = [(1000, 64), (4099, 300), (513, 1031), (64, 7)]

  static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

  /// y for `threads` = 1 … 4 with the same inputs; all must equal the first.
  static func expectSameOnAnyThreadCount(
    _ what: String, m: Int, _ product: (_ threads: Int, _ y: UnsafeMutablePointer<Float>) -> Void
  ) {
    let results = (1...4).map { threads in
      [Float](unsafeUninitializedCapacity: m) { y, initialized in
        // beta·y reads y: start from the same values every time.
        for i in 0..<m { y[i] = Float(i % 7) - 3 }
        product(threads, y.baseAddress!)
        initialized = m
      }
    }
    for (index, result) in results.enumerated().dropFirst() {
      #expect(bits(result) == bits(results[0]), "\(what): \(index + 1) threads differ from 1")
    }
  }

  @Test(arguments: shapes)
  func splitProductsEqualOneThread(m: Int, n: Int) {
    var random = TestRandom(UInt64(m * 31 + n))
    let a = random.floats(m * n, scale: 1)
    let x = random.floats(n, scale: 1)
    let bias = random.floats(m, scale: 1)
    let half = a.map(FloatCodec.floatToHalf)
    let bfloat = a.map(FloatCodec.floatToBFloat16)
    let int8 = (0..<(m * n)).map { _ in Int8(truncatingIfNeeded: random.int(255) - 127) }
    let scales = random.floats(m, scale: 0.01)
    a.withUnsafeBufferPointer { a in
      x.withUnsafeBufferPointer { x in
        bias.withUnsafeBufferPointer { bias in
          Self.expectSameOnAnyThreadCount("f32 \(m)×\(n)", m: m) { threads, y in
            Kernels.gemv(
              m: m, n: n, a: a.baseAddress!, lda: n, x: x.baseAddress!, beta: 1, y: y, threads: threads)
          }
          half.withUnsafeBufferPointer { v in
            Self.expectSameOnAnyThreadCount("f16 \(m)×\(n)", m: m) { threads, y in
              Kernels.gemvHalf(
                m: m, n: n, a: v.baseAddress!, x: x.baseAddress!, bias: bias.baseAddress!, y: y,
                threads: threads)
            }
          }
          bfloat.withUnsafeBufferPointer { v in
            for dot in [false, true] {
              Self.expectSameOnAnyThreadCount("bf16 \(m)×\(n)", m: m) { threads, y in
                // gemvBFloat16 splits as the runtime decides; its blocks are what blockArgmax uses.
                let chunk = ((m + threads - 1) / threads + 3) & ~3
                for start in stride(from: 0, to: m, by: chunk) {
                  Kernels.gemvBFloat16(
                    m: min(chunk, m - start), n: n, a: v.baseAddress! + start * n, x: x.baseAddress!,
                    bias: bias.baseAddress! + start, y: y + start, dot: dot, threaded: false)
                }
              }
            }
          }
          int8.withUnsafeBufferPointer { v in
            scales.withUnsafeBufferPointer { s in
              let sums = Kernels.rowSums(v.baseAddress!, rows: m, cols: n)
              var q = [Int8](repeating: 0, count: n)
              let xScale = q.withUnsafeMutableBufferPointer {
                Kernels.quantize(x.baseAddress!, count: n, into: $0.baseAddress!)
              }
              sums.withUnsafeBufferPointer { sums in
                q.withUnsafeBufferPointer { q in
                  Self.expectSameOnAnyThreadCount("int8 \(m)×\(n)", m: m) { threads, y in
                    Kernels.gemvInt8(
                      m: m, n: n, a: v.baseAddress!, scales: s.baseAddress!, rowSums: sums.baseAddress!,
                      x: q.baseAddress!, xScale: xScale, bias: bias.baseAddress!, y: y, threads: threads)
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  /// The block driver of greedy decoding picks the same index on any thread count, including the
  /// first of equal maxima in different blocks.
  @Test func blockArgmaxIsTheSameOnAnyThreadCount() throws {
    let (h, o) = (16, 3001)
    let model = try InferenceModel(TestModels.make(h: h, x: 5, o: o, g: .softmax, seed: 7))
    var random = TestRandom(9)
    for tie in [false, true] {
      // With `tie`, every logit is equal: the first must win whichever thread saw it.
      let logits = tie ? [Float](repeating: 0.5, count: o) : random.floats(o, scale: 1)
      var picks: [Int] = []
      for threads in 1...4 {
        var scratch = [Float](repeating: 0, count: o)
        let pick = logits.withUnsafeBufferPointer { z in
          let z = UnsafeSendable(z.baseAddress!)
          return scratch.withUnsafeMutableBufferPointer {
            model.blockArgmax(scratch: $0.baseAddress!, threads: threads) { start, rows, out in
              out.update(from: z.value + start, count: rows)
            }
          }
        }
        picks.append(pick)
      }
      let expected = tie ? 0 : logits.indices.max { logits[$0] < logits[$1] }!
      #expect(picks == [Int](repeating: expected, count: 4), "tie \(tie): \(picks)")
    }
  }

  /// Greedy generation with a V larger than L2, whose first products time one thread against all
  /// (``SplitChoice``), picks each token exactly as one-row logits and their argmax do.
  @Test func greedyGenerationIsUnchangedByTheMeasuredSplit() throws {
    let h = 64
    let o = max(1024, 2 * Kernels.cacheSize(2) / (h * 4))
    let model = try InferenceModel(TestModels.make(h: h, x: o, g: .softmax, seed: 11, scale: 0.3))
    let prompt = [1, 5, 9]
    let count = 3 * SplitChoice.trials
    let generated = try model.generate(
      prompt: prompt, options: GenerationOptions(maxTokens: count, temperature: 0))
    #expect(generated.count == count)
    if Kernels.threadCount > 1 {
      #expect(model.argmaxSplit.decision != nil, "the trials ran and chose")
    }
    var session = InferenceSession(model: model)
    try session.advance(tokens: prompt)
    var expected: [Int] = []
    var z = [Float](repeating: 0, count: o)
    for _ in 0..<count {
      z.withUnsafeMutableBufferPointer { z in
        session.hidden.withUnsafeBufferPointer {
          model.logits(hidden: $0.baseAddress!, rows: 1, into: z.baseAddress!)
        }
      }
      let next = z.withUnsafeBufferPointer { Kernels.argmax($0.baseAddress!, count: o) }
      expected.append(next)
      try session.advance(token: next)
    }
    #expect(generated == expected)
  }

  /// Makes one call of `choice` with two threads available that takes `time(threads)` nanoseconds;
  /// returns the thread count it ran on and whether it was a trial.
  @discardableResult
  static func splitCall(_ choice: SplitChoice, _ time: (Int) -> UInt64) -> (threads: Int, trial: Bool) {
    let (threads, timed) = choice.threads(upTo: 2)
    if let timed { choice.record(timed, elapsed: time(threads)) }
    return (threads, timed?.round != nil)
  }

  /// Calls until a round of trials has chosen (at most `limit` calls); returns how many it took.
  @discardableResult
  static func splitRound(_ choice: SplitChoice, limit: Int = 1000, _ time: (Int) -> UInt64) -> Int {
    var calls = 0
    repeat {
      splitCall(choice, time)
      calls += 1
    } while choice.decision == nil && calls < limit
    return calls
  }

  /// Calls on the kept choice until trials start again (at most `limit` calls); returns how many
  /// calls kept it. The call that starts the trials is itself a trial and is not counted.
  @discardableResult
  static func splitKept(_ choice: SplitChoice, limit: Int = 10_000, _ time: (Int) -> UInt64) -> Int {
    var calls = 0
    while calls < limit {
      if splitCall(choice, time).trial { return calls }
      calls += 1
    }
    return calls
  }

  /// Two threads take 50 µs a call, one thread 90 µs: a quiet machine where splitting pays.
  static func quiet(_ threads: Int) -> UInt64 { threads > 1 ? 50_000 : 90_000 }
  /// The same machine while the host holds the helper's virtual CPU: split calls wait for it.
  static func disturbed(_ threads: Int) -> UInt64 { threads > 1 ? 115_000 : 90_000 }

  /// The split is measured again soon after the first choice, then at doubling intervals up to
  /// the longest while the trials agree: a choice made during a passing disturbance does not last
  /// thousands of calls.
  @Test func splitChoiceRemeasuresSoonThenLessOften() {
    let choice = SplitChoice()
    #expect(Self.splitRound(choice, Self.quiet) == 2 * SplitChoice.trials)
    #expect(choice.decision == 2)
    var intervals: [Int] = []
    for _ in 0..<8 {
      intervals.append(Self.splitKept(choice, Self.quiet))
      // The call that started the round was its first trial.
      #expect(Self.splitRound(choice, Self.quiet) == 2 * SplitChoice.trials - 1)
    }
    // The call that starts a round counts toward the interval but is itself a trial.
    let expected = (0..<8).map { min(SplitChoice.firstRemeasure << $0, SplitChoice.remeasureAfter) - 1 }
    #expect(intervals == expected)
    #expect(choice.decision == 2)
  }

  /// One round of trials under a passing disturbance (every split trial slow) does not give up the
  /// split: it keeps two threads, and the next round comes within a few calls to check.
  @Test func splitChoiceKeepsItsChoiceThroughOneDisturbedRound() {
    let choice = SplitChoice()
    Self.splitRound(choice, Self.quiet)
    // Two agreeing rounds, so that the interval has grown past the first.
    for _ in 0..<2 {
      Self.splitKept(choice, Self.quiet)
      Self.splitRound(choice, Self.quiet)
    }
    #expect(choice.decision == 2)
    let grown = Self.splitKept(choice, Self.quiet)
    #expect(grown == 4 * SplitChoice.firstRemeasure - 1)
    Self.splitRound(choice, Self.disturbed)
    #expect(choice.decision == 2, "one disturbed round keeps the split")
    #expect(choice.kept == 2)
    // The disturbance has passed: the check comes soon and keeps the split; the interval then
    // grows from where it was.
    #expect(Self.splitKept(choice, Self.quiet) == SplitChoice.confirmAfter - 1)
    Self.splitRound(choice, Self.quiet)
    #expect(choice.decision == 2)
    #expect(Self.splitKept(choice, Self.quiet) == 8 * SplitChoice.firstRemeasure - 1)
  }

  /// Two rounds in a row that find one thread faster switch to one thread, and the next round comes
  /// after the shortest interval, so the split returns soon once it pays again.
  @Test func splitChoiceSwitchesWhenTwoRoundsAgree() {
    let choice = SplitChoice()
    Self.splitRound(choice, Self.quiet)
    Self.splitKept(choice, Self.quiet)
    Self.splitRound(choice, Self.disturbed)
    #expect(choice.decision == 2)
    // The check: calls on two threads now take longer than one thread measured, so the round starts
    // after `trials` of them, before `confirmAfter`.
    #expect(Self.splitKept(choice, Self.disturbed) == SplitChoice.trials)
    Self.splitRound(choice, Self.disturbed)
    #expect(choice.decision == 1, "two disturbed rounds in a row switch")
    #expect(Self.splitKept(choice, Self.quiet) == SplitChoice.firstRemeasure - 1)
    // While the next round's trials run, the kept choice is still one thread.
    #expect(choice.decision == nil && choice.kept == 1)
    // Once quiet again: one round disagrees; the calls on one thread are slower than the split
    // just measured, so the next round starts after `trials` of them, confirms, and the split is
    // back.
    Self.splitRound(choice, Self.quiet)
    #expect(choice.decision == 1)
    #expect(Self.splitKept(choice, Self.quiet) == SplitChoice.trials)
    Self.splitRound(choice, Self.quiet)
    #expect(choice.decision == 2)
  }

  /// Calls on the kept option that turn slower than the other option measured (a load that lasts)
  /// start the trials after `trials` such calls in a row, long before the interval; calls as fast
  /// as the trials measured, or an occasional slow one, do not.
  @Test func splitChoiceRemeasuresWhenTheKeptOptionDrifts() {
    let choice = SplitChoice()
    Self.splitRound(choice, Self.quiet)
    for _ in 0..<4 {
      Self.splitKept(choice, Self.quiet)
      Self.splitRound(choice, Self.quiet)
    }
    // Slow calls now and then (every fourth call 100 µs on two threads) do not start a round.
    var count = 0
    let now = Self.splitKept(choice) { threads in
      count += 1
      return count % 4 == 0 ? 100_000 : Self.quiet(threads)
    }
    #expect(now == 16 * SplitChoice.firstRemeasure - 1)
    Self.splitRound(choice, Self.quiet)
    // A lasting load: split calls take 100 µs, more than one thread's 90.
    #expect(Self.splitKept(choice) { $0 > 1 ? 100_000 : 90_000 } == SplitChoice.trials)
  }

  /// Input rows of more bytes than L2 holds (copied on all the runtime's threads) are the same
  /// floats, bit for bit, as each token's row copied alone.
  @Test func largeRowCopiesMatchSingleRows() throws {
    let (h, x) = (16, 40)
    let model = try InferenceModel(TestModels.make(h: h, x: x, seed: 17, scale: 0.5))
    let count = Kernels.cacheSize(2) / (h * 4) + 333
    #expect(count * h * 4 > Kernels.cacheSize(2), "more bytes than L2, so the copy splits across threads")
    var random = TestRandom(19)
    let ids = (0..<count).map { _ in random.int(x) }
    var rows = [Float](repeating: .nan, count: count * h)
    try rows.withUnsafeMutableBufferPointer { (rows) throws(RuntimeError) in
      let base = rows.baseAddress!
      try model.inputColumns.copyRows(ids) { base + $0 * h }
    }
    for token in 0..<x {
      var single = [Float](repeating: .nan, count: h)
      try single.withUnsafeMutableBufferPointer { (single) throws(RuntimeError) in
        let row = single.baseAddress!
        try model.inputColumns.copyRows([token]) { _ in row }
      }
      for (k, id) in ids.enumerated() where id == token {
        #expect(Array(rows[(k * h)..<((k + 1) * h)]) == single, "row \(k) (token \(token))")
      }
    }
  }
}
