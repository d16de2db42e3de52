import CKernels
import Dispatch
import Synchronization

/// The threads that run the runtime's parallel loops with the calling thread.
///
/// Generating a token splits V's product (tens of microseconds per thread) between the threads;
/// waking a parked thread for each such loop costs about as much as the work itself (a futex
/// wake-up, which in a virtual machine is also an interrupt to another virtual CPU). So a helper
/// that finishes a loop spins, watching for the next one, before it parks. It spins as long as a
/// wake-up of a parked helper takes: the median of the latest wake-ups seen in use (at first, of a
/// few measured when the pool starts, which come cheaper than those of a helper parked a while).
/// Spinning longer than a wake-up costs can save at most one wake-up, so this wastes at most as much
/// time as it could save (the "ski rental" bound), and needs no constant of the CPU it runs on. A spinning thread also
/// yields its core now and then: on a busy machine the thread it waits for may be waiting for a core.
///
/// One loop runs at a time; a loop started while another runs (from another thread, or from inside
/// a loop) is handed to `DispatchQueue.concurrentPerform` instead. Helpers run a loop at the kernel
/// level and features the caller forced (tests do), as its own iterations do. Iterations are claimed one by
/// one by the caller and the helpers, so which thread runs one never changes what it computes.
final class WorkerPool: @unchecked Sendable {
  /// The runtime's pool: `Kernels.threadCount - 1` helpers, started on first use.
  static let shared = WorkerPool(helpers: Kernels.threadCount - 1)

  /// A helper's parking place.
  final class Helper: @unchecked Sendable {
    /// True while the helper waits on `wake`; whoever flips it back to false signals `wake`.
    let parked = Atomic<Bool>(false)
    let wake = DispatchSemaphore(value: 0)
    /// When the caller last signalled `wake` (uptime nanoseconds).
    let signalled = Atomic<UInt64>(0)
  }

  /// The loop being run, written by its caller before `round` moves on and read by the helpers
  /// after they see it move (so no helper reads it while it changes).
  struct Job {
    var body: UnsafePointer<(Int) -> Void>
    var count: Int
    /// The caller's forced kernel level and features (-1: none), which the helpers take for the
    /// loop: an iteration computes the same bits on whichever thread runs it.
    var level: Int32
    var features: Int32
  }

  let helpers: [Helper]
  /// Taken by the caller whose loop the helpers run.
  private let owner = Atomic<Bool>(false)
  /// Counts the loops; a helper that sees it change runs the new loop.
  private let round = Atomic<Int>(0)
  /// The next iteration of the current loop to claim.
  private let nextIndex = Atomic<Int>(0)
  /// Helpers that have not yet finished the current loop.
  private let running = Atomic<Int>(0)
  /// The caller's parking place while helpers finish (for a helper that was descheduled).
  private let callerParked = Atomic<Bool>(false)
  private let callerWake = DispatchSemaphore(value: 0)
  /// How long a waiting thread spins before it parks: one wake-up, as measured.
  private let spinNanoseconds = Atomic<UInt64>(0)
  private nonisolated(unsafe) var job: Job?

  init(helpers count: Int) {
    helpers = (0..<max(0, count)).map { _ in Helper() }
    guard !helpers.isEmpty else { return }
    for (index, helper) in helpers.enumerated() {
      DispatchQueue(label: "RNNKit runtime worker \(index + 1)").async { self.serve(helper) }
    }
    spinNanoseconds.store(measureWakeUp(), ordering: .relaxed)
  }

  /// The median time of a few empty loops whose helpers were all parked: what parking costs.
  private func measureWakeUp() -> UInt64 {
    var times: [UInt64] = []
    for _ in 0..<5 {
      for helper in helpers {
        while !helper.parked.load(ordering: .sequentiallyConsistent) { rk_spin_pause() }
      }
      let start = DispatchTime.now().uptimeNanoseconds
      _ = run(count: helpers.count + 1, callerSpinsForever: true) { _ in }
      times.append(DispatchTime.now().uptimeNanoseconds - start)
    }
    return times.sorted()[times.count / 2]
  }

  /// How long a waiting thread spins before it parks, in nanoseconds: one wake-up, as measured.
  var spinBudget: UInt64 { spinNanoseconds.load(ordering: .relaxed) }

  /// Runs `body(i)` for i in 0..<count on the calling thread and the helpers; false, without
  /// running anything, when another loop holds the pool.
  func run(count: Int, _ body: (Int) -> Void) -> Bool {
    run(count: count, callerSpinsForever: false, body)
  }

  private func run(count: Int, callerSpinsForever: Bool, _ body: (Int) -> Void) -> Bool {
    guard
      !helpers.isEmpty,
      owner.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else { return false }
    defer { owner.store(false, ordering: .releasing) }
    withoutActuallyEscaping(body) { body in
      withUnsafePointer(to: body) { body in
        job = Job(
          body: body, count: count, level: rk_thread_forced_level(), features: rk_thread_forced_features())
        nextIndex.store(0, ordering: .relaxed)
        running.store(helpers.count, ordering: .relaxed)
        round.add(1, ordering: .sequentiallyConsistent)
        for helper in helpers where helper.parked.exchange(false, ordering: .sequentiallyConsistent) {
          helper.signalled.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
          helper.wake.signal()
        }
        Self.work(body, count: count, next: nextIndex)
        waitForHelpers(spinsForever: callerSpinsForever)
        job = nil
      }
    }
    return true
  }

  /// Claims and runs iterations until none are left. Not inlined, so the copy of the closure it
  /// calls is released before the helper reports that it finished.
  @inline(never)
  private static func work(_ body: UnsafePointer<(Int) -> Void>, count: Int, next: borrowing Atomic<Int>) {
    while true {
      let i = next.add(1, ordering: .relaxed).oldValue
      guard i < count else { return }
      body.pointee(i)
    }
  }

  private func waitForHelpers(spinsForever: Bool) {
    let budget = spinsForever ? UInt64.max : spinNanoseconds.load(ordering: .relaxed)
    if spin(budget, until: { running.load(ordering: .acquiring) == 0 }) { return }
    callerParked.store(true, ordering: .sequentiallyConsistent)
    if running.load(ordering: .sequentiallyConsistent) != 0
      || !callerParked.exchange(false, ordering: .sequentiallyConsistent)
    {
      // Parked, or a helper already took the flag back and signals: either way one signal comes.
      callerWake.wait()
    }
  }

  /// Spins (with the CPU's spin hint) until `done` or `budget` nanoseconds pass; whether `done`.
  private func spin(_ budget: UInt64, until done: () -> Bool) -> Bool {
    let start = DispatchTime.now().uptimeNanoseconds
    var spins = 0
    while !done() {
      rk_spin_pause()
      spins += 1
      // Every 64 spins: give the core away if another thread waits for one (on a busy machine,
      // perhaps the thread this one waits for), and read the clock, which costs more than a spin.
      if spins & 63 == 0 {
        rk_spin_yield()
        if DispatchTime.now().uptimeNanoseconds - start >= budget { return false }
      }
    }
    return true
  }

  /// The latest wake-ups of parked helpers in use, nanoseconds from the signal to the helper running.
  private let wakeUps = Mutex<[UInt64]>([])

  /// Keeps the spin budget at the median of the latest wake-ups seen in use. Waking a helper that
  /// has been parked a while (a virtual CPU gone idle) costs far more than the back-to-back
  /// wake-ups measured at start, and only use shows what it costs.
  private func recordWakeUp(_ nanoseconds: UInt64) {
    guard nanoseconds < UInt64(Int64.max) else { return }
    let median = wakeUps.withLock { recent -> UInt64 in
      recent.append(nanoseconds)
      if recent.count > 9 { recent.removeFirst() }
      return recent.sorted()[recent.count / 2]
    }
    spinNanoseconds.store(median, ordering: .relaxed)
  }

  /// A helper's life: wait for the next loop, run its share, report, repeat.
  private func serve(_ helper: Helper) {
    var seen = 0
    while true {
      let budget = spinNanoseconds.load(ordering: .relaxed)
      if !spin(budget, until: { round.load(ordering: .acquiring) != seen }) {
        helper.parked.store(true, ordering: .sequentiallyConsistent)
        if round.load(ordering: .sequentiallyConsistent) == seen
          || !helper.parked.exchange(false, ordering: .sequentiallyConsistent)
        {
          // Parked, or the caller already took the flag back and signals: one signal comes.
          helper.wake.wait()
          recordWakeUp(DispatchTime.now().uptimeNanoseconds &- helper.signalled.load(ordering: .relaxed))
        }
      }
      seen = round.load(ordering: .acquiring)
      if let job {
        let (level, features) = (rk_thread_forced_level(), rk_thread_forced_features())
        rk_force_level(job.level)
        rk_force_features(job.features)
        Self.work(job.body, count: job.count, next: nextIndex)
        rk_force_level(level)
        rk_force_features(features)
      }
      if running.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
        callerParked.exchange(false, ordering: .sequentiallyConsistent)
      {
        callerWake.signal()
      }
    }
  }
}
