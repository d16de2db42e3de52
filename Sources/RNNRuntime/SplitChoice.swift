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
/// run again: first after `firstRemeasure` calls, then after twice as many each time, up to
/// `remeasureAfter`. A choice made under a passing disturbance (another process, a fresh pool's
/// slow first wake-ups) is then corrected within a short generation, not kept for thousands of
/// tokens. Which thread computes a row never changes its value, so the choice changes speed only,
/// never results.
final class SplitChoice: Sendable {
  /// Timed calls per option before choosing.
  static let trials = 8
  /// Calls between the first choice and the second round of trials.
  static let firstRemeasure = 64
  /// The most calls between two rounds of trials (then about 1% of the calls are trials).
  static let remeasureAfter = 2048

  private struct State {
    /// Counts the rounds of trials, so a trial of an earlier round is not counted in a later one.
    var round = 0
    var started = 0
    var times: [[UInt64]] = [[], []]
    var finished = 0
  }
  private let state = Mutex(State())
  /// The chosen thread count; 0 while trials run.
  private let chosen = Atomic<Int>(0)
  /// Calls since the last choice.
  private let calls = Atomic<Int>(0)
  /// Calls from the current choice to the next round of trials.
  private let interval = Atomic<Int>(firstRemeasure)

  /// A timed call: its round of trials, the option it tried (1: all threads) and when it started.
  struct Trial {
    let round: Int
    let option: Int
    let threads: Int
    let start: UInt64
  }

  /// The thread count for the next call, at most `threads`, and when that call is a trial, the
  /// trial to report with ``record(_:)`` when it ends.
  func threads(upTo threads: Int) -> (threads: Int, trial: Trial?) {
    guard threads > 1 else { return (1, nil) }
    let decided = chosen.load(ordering: .relaxed)
    if decided > 0 {
      guard calls.add(1, ordering: .relaxed).newValue >= interval.load(ordering: .relaxed) else {
        return (min(decided, threads), nil)
      }
      state.withLock { state in
        guard chosen.load(ordering: .relaxed) > 0 else { return }
        state = State(round: state.round + 1)
        calls.store(0, ordering: .relaxed)
        interval.store(min(2 * interval.load(ordering: .relaxed), Self.remeasureAfter), ordering: .relaxed)
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
    let trial = Trial(
      round: round, option: option, threads: threads, start: DispatchTime.now().uptimeNanoseconds)
    return (option == 0 ? 1 : threads, trial)
  }

  /// Records a trial call that has just finished; the last one of its round chooses.
  func record(_ trial: Trial) {
    let elapsed = DispatchTime.now().uptimeNanoseconds - trial.start
    let choice = state.withLock { state -> Int? in
      guard state.round == trial.round else { return nil }
      state.times[trial.option].append(elapsed)
      state.finished += 1
      guard state.finished == 2 * Self.trials else { return nil }
      let medians = state.times.map { $0.sorted()[$0.count / 2] }
      return medians[1] < medians[0] ? trial.threads : 1
    }
    if let choice { chosen.store(choice, ordering: .relaxed) }
  }

  /// The chosen thread count, nil while trials run.
  var decision: Int? {
    let decided = chosen.load(ordering: .relaxed)
    return decided > 0 ? decided : nil
  }
}
