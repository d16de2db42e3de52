import Foundation

/// The real Python clients the interop tests check RNNKit against (h5py, Keras on JAX, numpy,
/// safetensors, onnxruntime, xxhash), and the rule for a client that cannot be imported.
///
/// With `RNNKIT_REQUIRE_INTEROP=1` (scripts/test.sh, and so CI) such a client fails its tests, so a
/// broken install can never leave CI green. Without it (a developer's quick run) the tests are
/// skipped, and the skip names the import error.
public enum PythonClient {
  /// The environment variable that turns a missing client from a skip into a failure.
  public static let requireVariable = "RNNKIT_REQUIRE_INTEROP"

  /// The repository root, where the client scripts live.
  public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  /// What to do with a test that needs some Python modules.
  public enum Verdict: Equatable, Sendable {
    case run
    case skip(reason: String)
    case fail(reason: String)
  }

  /// The Python of the virtual environment that holds TensorFlow and tf2onnx, kept apart from the
  /// other clients because TensorFlow pins numpy and protobuf (scripts/bootstrap.sh --python).
  public static let tf2onnxPython = repositoryRoot.appendingPathComponent(".venv-tf2onnx/bin/python").path

  /// The verdict for a test that imports `modules` in `interpreter` (python3 when nil), under
  /// `environment`.
  public static func verdict(
    modules: [String], interpreter: String? = nil,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) -> Verdict {
    guard let problem = importProblem(modules, interpreter: interpreter) else { return .run }
    let names = modules.joined(separator: ", ")
    let python = interpreter ?? "python3"
    let required = environment[requireVariable].map { !$0.isEmpty && $0 != "0" } ?? false
    if required {
      return .fail(
        reason: "\(requireVariable) is set and \(python) cannot import \(names): \(problem)"
          + " (scripts/bootstrap.sh --python installs the clients)")
    }
    return .skip(
      reason: "\(python) cannot import \(names): \(problem); \(requireVariable)=1 makes this a failure")
  }

  /// Why `interpreter` (python3 when nil) cannot import `modules` (the last line of what it
  /// printed), or nil when it can. Each list is tried once per test process: importing Keras takes
  /// seconds.
  public static func importProblem(_ modules: [String], interpreter: String? = nil) -> String? {
    imports.value(for: [interpreter ?? "python3"] + modules) {
      let result: ChildProcess.Result
      do {
        result = try run(["-c", "import " + modules.joined(separator: ", ")], interpreter: interpreter)
      } catch {
        return "\(interpreter ?? "python3") could not be started (\(error))"
      }
      guard result.status != 0 || result.reason != .exit else { return nil }
      let last = result.stderrText.split(separator: "\n").last.map(String.init)
      return last ?? "python3 exited with status \(result.status)"
    }
  }

  /// Runs the Python script at `script` (a path from the repository root) with `arguments`.
  public static func run(script: String, _ arguments: [String]) throws -> ChildProcess.Result {
    try run([repositoryRoot.appendingPathComponent(script).path] + arguments)
  }

  /// Runs `python3 arguments…` (or `interpreter arguments…`) with Keras on JAX on the CPU, quietly.
  public static func run(_ arguments: [String], interpreter: String? = nil) throws -> ChildProcess.Result {
    var environment = ProcessInfo.processInfo.environment
    environment["KERAS_BACKEND"] = "jax"
    environment["JAX_PLATFORMS"] = "cpu"
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if let interpreter {
      return try ChildProcess.run(URL(fileURLWithPath: interpreter), arguments, environment: environment)
    }
    return try ChildProcess.run(
      URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments, environment: environment)
  }

  private static let imports = Memo()
}

/// Import results by module list, shared by the tests running in parallel.
private final class Memo: @unchecked Sendable {
  private let lock = NSLock()
  private var results: [[String]: String?] = [:]

  func value(for key: [String], compute: () -> String?) -> String? {
    // Holding the lock while Python starts makes a second caller wait instead of importing again.
    lock.withLock {
      if let known = results[key] { return known }
      let value = compute()
      results[key] = .some(value)
      return value
    }
  }
}
