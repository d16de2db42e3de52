import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Runs a program to its end and captures what it prints, for the tests that drive the `rnnkit`
/// binary or a Python client.
///
/// Standard output and standard error are read at the same time, and standard input is written on
/// its own thread: a pipe holds only 64 KiB, so reading one stream to its end before the other
/// (or writing all of stdin before reading) would leave a chatty child blocked on a full pipe and
/// the test waiting for it forever.
public enum ChildProcess {
  /// What the child printed and how it ended.
  public struct Result: Sendable {
    /// The exit status, or the signal number when `reason` is `.uncaughtSignal`.
    public var status: Int32
    public var reason: Process.TerminationReason
    public var stdout: Data
    public var stderr: Data

    /// Standard output as UTF-8 text (invalid bytes replaced).
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// Standard error as UTF-8 text (invalid bytes replaced).
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
  }

  /// Runs `executable arguments…` with `environment` (the test process's own when nil) and `stdin`
  /// (none when nil) and waits for it to exit.
  public static func run(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, stdin: Data? = nil
  ) throws -> Result {
    _ = ignoringBrokenPipes
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let input = stdin.map { _ in Pipe() }
    process.standardInput = input ?? FileHandle.nullDevice
    try process.run()
    let feeder = input.map { pipe in
      Background {
        // A child that exits without reading all of its input is not an error of the test.
        try? pipe.fileHandleForWriting.write(contentsOf: stdin ?? Data())
        try? pipe.fileHandleForWriting.close()
      }
    }
    let errors = Background { err.fileHandleForReading.readDataToEndOfFile() }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let errorOutput = errors.wait()
    feeder?.wait()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, reason: process.terminationReason, stdout: output,
      stderr: errorOutput)
  }

  /// A child that closes its input early must turn our write into an error, not kill the test
  /// process with SIGPIPE.
  private static let ignoringBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
}

/// Runs `body` on a thread of its own (blocking reads must not occupy the shared dispatch pool);
/// `wait()` returns its result.
public final class Background<Value: Sendable>: @unchecked Sendable {
  private let finished = DispatchSemaphore(value: 0)
  // Written once by the thread before `finished` is signalled, read only after waiting for it.
  private var value: Value?

  public init(_ body: @escaping @Sendable () -> Value) {
    Thread.detachNewThread { [self] in
      value = body()
      finished.signal()
    }
  }

  /// Waits for `body` to return.
  public func wait() -> Value {
    finished.wait()
    return value!
  }

  /// Waits at most `seconds` for `body` to return; nil if it has not (it then keeps running).
  public func wait(seconds: Double) -> Value? {
    guard finished.wait(timeout: .now() + seconds) == .success else { return nil }
    return value!
  }
}
