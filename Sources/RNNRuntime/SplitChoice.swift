import Dispatch
import Synchronization

/// Whether a product that runs again and again (V's product for each generated token) is faster
/// on one thread or split across the runtime's threads, measured on the product itself.
///
/// Splitting pays only when each thread's share takes clearly longer than handing it over; which
/// is the case depends on the CPU, its caches, the virtual machine and the load, so no size
/// threshold decides it. The first calls alternate between one thread and all of them, each timed
/// on the wall clock; after `trials` calls of each, the option with the faster best time is kept
/// (one thread on a tie). Which thread computes a row never changes its value, so the choice
/// changes speed only, never results.
final class SplitChoice: Sendable {
  /// Timed calls per option before choosing.
  static let trials = 8

  private struct State {
    var started = 0
    var best: [UInt64] = [.max, .max]
    var finished = 0
  }
  private let state = Mutex(State())
  /// The chosen thread count; 0 while trials run.
  private let chosen = Atomic<Int>(0)

  /// The thread count for the next call, at most `threads`, and when that call is a trial, the
  /// trial to report its time for with ``record(_:start:)``.
  func threads(upTo threads: Int) -> (threads: Int, trial: Trial?) {
    guard threads > 1 else { return (1, nil) }
    let decided = chosen.load(ordering: .relaxed)
    if decided > 0 { return (min(decided, threads), nil) }
    let option = state.withLock { state -> Int? in
      guard state.started < 2 * Self.trials else { return nil }
      defer { state.started += 1 }
      return state.started % 2
    }
    // The last trials are still running: one thread until they choose.
    guard let option else { return (1, nil) }
    let trial = Trial(option: option, threads: threads, start: DispatchTime.now().uptimeNanoseconds)
    return (option == 0 ? 1 : threads, trial)
  }

  /// A timed call: which option it tried and when it started.
  struct Trial {
    let option: Int
    let threads: Int
    let start: UInt64
  }

  /// Records a trial call that has just finished; the last one chooses.
  func record(_ trial: Trial) {
    let elapsed = DispatchTime.now().uptimeNanoseconds - trial.start
    let choice = state.withLock { state -> Int? in
      state.best[trial.option] = min(state.best[trial.option], elapsed)
      state.finished += 1
      guard state.finished == 2 * Self.trials else { return nil }
      return state.best[1] < state.best[0] ? trial.threads : 1
    }
    if let choice { chosen.store(choice, ordering: .relaxed) }
  }

  /// The chosen thread count, nil while trials run.
  var decision: Int? {
    let decided = chosen.load(ordering: .relaxed)
    return decided > 0 ? decided : nil
  }
}
