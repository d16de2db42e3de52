import Dispatch
import Synchronization

/// Whether a product that runs again and again (V's product for each generated token) is faster
/// on one thread or split across the runtime's threads, measured on the product itself.
///
/// Splitting pays only when each thread's share takes clearly longer than handing it over; which
/// is the case depends on the CPU, its caches, the virtual machine and the load, so no size
/// threshold decides it. The first calls run in turns on all threads and on one, each timed on the
/// wall clock; after `trials` calls of each, the option with the shorter median time is kept (one
/// thread on a tie). The median, not the best time: on a busy machine, a thread that has to wait
/// for a core is part of what splitting costs or gains, while a single slow call (a page fault on
/// V's first read, a helper's first wake-up) is not. The load of a machine changes, so the trials
/// run again: first after `firstRemeasure` calls, then after twice as many each time the trials
/// agree with the kept choice, up to `remeasureAfter`.
///
/// A passing disturbance (another process, a virtual CPU whose time the host took) can make one
/// round of trials find the wrong option faster; kept, that choice would last thousands of calls.
/// So a round that disagrees with the kept choice does not change it: it brings the next round
/// within `confirmAfter` calls, and only two rounds in a row that disagree switch. And every call
/// on the kept option is timed: `trials` calls in a row slower than the other option's median in
/// the last trials start a round at once, so a change that lasts is followed within a few calls.
/// Which thread computes a row never changes its value, so the choice changes speed only, never
/// results.
final class SplitChoice: Sendable {
  /// Timed calls per option before choosing.
  static let trials = 8
  /// Calls between the first choice and the second round of trials, and after a switch.
  static let firstRemeasure = 64
  /// Calls after a round that disagreed with the kept choice, to the round that confirms or not.
  static let confirmAfter = 16
  /// The most calls between two rounds of trials (then about 1% of the calls are trials).
  static let remeasureAfter = 2048

  private struct State {
    /// Counts the rounds of trials, so a trial of an earlier round is not counted in a later one.
    var round = 0
    var started = 0
    var times: [[UInt64]] = [[], []]
    var finished = 0
    /// The thread count kept between rounds; 0 before the first round chose.
    var kept = 0
    /// The thread count the last round found faster when that was not the kept one; 0 otherwise.
    var challenger = 0
    /// Calls from a round that agreed with the kept choice to the next round.
    var interval = firstRemeasure
  }
  private let state = Mutex(State())
  /// The chosen thread count; 0 while trials run.
  private let chosen = Atomic<Int>(0)
  /// Calls since the last choice.
  private let calls = Atomic<Int>(0)
  /// Calls from the current choice to the next round of trials.
  private let interval = Atomic<Int>(firstRemeasure)
  /// The median time of the option not kept, in the last round of trials (nanoseconds).
  private let otherMedian = Atomic<UInt64>(.max)
  /// Calls on the kept option in a row slower than ``otherMedian``.
  private let slowCalls = Atomic<Int>(0)

  /// A timed call: its round of trials (nil for a call on the kept option), the option it ran (1:
  /// all threads) and when it started.
  struct TimedCall {
    let round: Int?
    let option: Int
    let threads: Int
    let start: UInt64
  }

  /// The thread count for the next call, at most `threads`, and the timed call to report with
  /// ``record(_:)`` when it ends (nil when there is nothing to choose from).
  func threads(upTo threads: Int) -> (threads: Int, timed: TimedCall?) {
    guard threads > 1 else { return (1, nil) }
    let decided = chosen.load(ordering: .relaxed)
    if decided > 0 {
      guard calls.add(1, ordering: .relaxed).newValue >= interval.load(ordering: .relaxed) else {
        let count = min(decided, threads)
        let call = TimedCall(
          round: nil, option: count > 1 ? 1 : 0, threads: threads, start: DispatchTime.now().uptimeNanoseconds
        )
        return (count, call)
      }
      state.withLock { state in
        guard chosen.load(ordering: .relaxed) > 0 else { return }
        state.round += 1
        (state.started, state.times, state.finished) = (0, [[], []], 0)
        calls.store(0, ordering: .relaxed)
        chosen.store(0, ordering: .relaxed)
      }
    }
    let round = state.withLock { state -> (round: Int, option: Int)? in
      guard state.started < 2 * Self.trials else { return nil }
      defer { state.started += 1 }
      // Runs of trials/2 calls per option, all threads first: the helpers stay awake between the
      // calls of a run, as they do in use, and each option gets an early and a late run.
      return (state.round, 1 - state.started / (Self.trials / 2) % 2)
    }
    // The last trials are still running: one thread until they choose.
    guard let (round, option) = round else { return (1, nil) }
    let call = TimedCall(
      round: round, option: option, threads: threads, start: DispatchTime.now().uptimeNanoseconds)
    return (option == 0 ? 1 : threads, call)
  }

  /// Records a timed call that has just finished; the last trial of a round chooses.
  func record(_ call: TimedCall) {
    record(call, elapsed: DispatchTime.now().uptimeNanoseconds - call.start)
  }

  /// Records a timed call that took `elapsed` nanoseconds.
  func record(_ call: TimedCall, elapsed: UInt64) {
    guard let round = call.round else {
      // A call on the kept option: a run of them slower than the other option measured starts
      // the trials at the next call.
      if elapsed <= otherMedian.load(ordering: .relaxed) {
        slowCalls.store(0, ordering: .relaxed)
      } else if slowCalls.add(1, ordering: .relaxed).newValue >= Self.trials {
        slowCalls.store(0, ordering: .relaxed)
        interval.store(0, ordering: .relaxed)
      }
      return
    }
    let choice = state.withLock { state -> (kept: Int, next: Int, other: UInt64)? in
      guard state.round == round else { return nil }
      state.times[call.option].append(elapsed)
      state.finished += 1
      guard state.finished == 2 * Self.trials else { return nil }
      let medians = state.times.map { $0.sorted()[$0.count / 2] }
      let faster = medians[1] < medians[0] ? call.threads : 1
      var next = state.interval
      if state.kept == 0 {
        state.kept = faster
      } else if faster == state.kept {
        state.challenger = 0
        state.interval = min(2 * state.interval, Self.remeasureAfter)
        next = state.interval
      } else if faster == state.challenger {
        (state.kept, state.challenger) = (faster, 0)
        state.interval = Self.firstRemeasure
        next = state.interval
      } else {
        state.challenger = faster
        next = Self.confirmAfter
      }
      return (state.kept, next, medians[state.kept > 1 ? 0 : 1])
    }
    guard let choice else { return }
    otherMedian.store(choice.other, ordering: .relaxed)
    slowCalls.store(0, ordering: .relaxed)
    interval.store(choice.next, ordering: .relaxed)
    chosen.store(choice.kept, ordering: .relaxed)
  }

  /// The chosen thread count, nil while trials run.
  var decision: Int? {
    let decided = chosen.load(ordering: .relaxed)
    return decided > 0 ? decided : nil
  }

  /// The thread count kept between rounds (also while a round of trials runs), nil before the
  /// first round chose.
  var kept: Int? {
    let kept = state.withLock { $0.kept }
    return kept > 0 ? kept : nil
  }
}

extension InferenceModel {
  /// The thread count that greedy generation keeps for V's product, as measured (``SplitChoice``):
  /// nil before the first choice and when there is nothing to choose (one thread, or a V that fits
  /// in L2); for benchmarks that report what was measured.
  public var generationThreads: Int? { argmaxSplit.kept }
}
