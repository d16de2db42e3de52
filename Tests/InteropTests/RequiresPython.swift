import Foundation
import TestSupport
import Testing

/// Runs a test or suite only when python3 can import `modules`. A client that fails to import
/// fails the test under `RNNKIT_REQUIRE_INTEROP=1` and is skipped, visibly and with the import
/// error as the reason, without it (see `PythonClient`).
struct RequiresPython: TestTrait, SuiteTrait {
  var modules: [String]
  /// The Python to import them in; python3 when nil.
  var interpreter: String?
  /// Read when the test starts; a parameter so the gate itself can be tested.
  var environment: [String: String] = ProcessInfo.processInfo.environment

  func prepare(for test: Test) async throws {
    switch PythonClient.verdict(modules: modules, interpreter: interpreter, environment: environment) {
    case .run:
      return
    case .fail(let reason):
      // An error thrown while preparing a test is recorded as its failure, and the test not run.
      throw MissingPythonClient(description: reason)
    case .skip(let reason):
      // Swift Testing's own condition does the skipping, so the run lists the test as skipped.
      try await ConditionTrait.disabled(Comment(rawValue: reason)).prepare(for: test)
    }
  }
}

/// A Python client that the run requires could not be imported.
struct MissingPythonClient: Error, CustomStringConvertible {
  var description: String
}

extension Trait where Self == RequiresPython {
  /// Needs python3 with `modules` importable (Keras runs on JAX on the CPU).
  static func requiresPython(_ modules: String...) -> Self { RequiresPython(modules: modules) }

  /// Needs TensorFlow and tf2onnx in their own virtual environment (`PythonClient.tf2onnxPython`).
  static var requiresTF2ONNX: Self {
    RequiresPython(modules: ["tensorflow", "tf2onnx"], interpreter: PythonClient.tf2onnxPython)
  }
}
