import Foundation
import TestSupport
import Testing

/// The gate of the interop suites: a Python client that fails to import is a failure when the run
/// requires interop (CI), and a visible skip otherwise.
@Suite(.requiresPython("json")) struct InteropGateTests {
  /// A module no one will ever install.
  static let missing = "rnnkit_no_such_module_\(UUID().uuidString.prefix(8).lowercased())"

  @Test func aMissingModuleFailsWhenInteropIsRequired() async throws {
    let verdict = PythonClient.verdict(
      modules: ["json", Self.missing], environment: [PythonClient.requireVariable: "1"])
    guard case .fail(let reason) = verdict else {
      Issue.record("expected a failure, got \(verdict)")
      return
    }
    #expect(reason.contains("No module named '\(Self.missing)'"), "\(reason)")
    #expect(reason.contains("RNNKIT_REQUIRE_INTEROP"), "\(reason)")

    // The trait the suites carry turns that verdict into an error thrown while preparing the test,
    // which Swift Testing records as the test's failure.
    let gate = RequiresPython(modules: [Self.missing], environment: [PythonClient.requireVariable: "1"])
    let test = try #require(Test.current)
    await #expect(throws: MissingPythonClient.self) { try await gate.prepare(for: test) }
  }

  /// A virtual environment that is not there (as `.venv-tf2onnx` before bootstrap) fails too.
  @Test func aMissingInterpreterFailsWhenInteropIsRequired() async throws {
    let absent = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-no-venv-\(UUID().uuidString)/bin/python"
    ).path
    let verdict = PythonClient.verdict(
      modules: ["tensorflow", "tf2onnx"], interpreter: absent,
      environment: [PythonClient.requireVariable: "1"])
    guard case .fail(let reason) = verdict else {
      Issue.record("expected a failure, got \(verdict)")
      return
    }
    #expect(reason.contains(absent) && reason.contains("could not be started"), "\(reason)")
    let gate = RequiresPython(
      modules: ["tensorflow"], interpreter: absent, environment: [PythonClient.requireVariable: "1"])
    let test = try #require(Test.current)
    await #expect(throws: MissingPythonClient.self) { try await gate.prepare(for: test) }
  }

  @Test func aMissingModuleIsAVisibleSkipOtherwise() async throws {
    for environment in [[:], [PythonClient.requireVariable: "0"]] {
      let verdict = PythonClient.verdict(modules: [Self.missing], environment: environment)
      guard case .skip(let reason) = verdict else {
        Issue.record("expected a skip, got \(verdict)")
        continue
      }
      #expect(reason.contains("No module named '\(Self.missing)'"), "\(reason)")
      // The skip says how to make it a failure.
      #expect(reason.contains("RNNKIT_REQUIRE_INTEROP=1"), "\(reason)")
    }
    // The trait skips through Swift Testing's own condition trait, which cancels the test it is
    // preparing: calling it here would skip this test, so only the verdict is checked.
  }

  @Test func anImportableModuleRuns() {
    // The standard library's json is always there: the gate lets the test run, required or not.
    for environment in [[:], [PythonClient.requireVariable: "1"]] {
      #expect(PythonClient.verdict(modules: ["json"], environment: environment) == .run)
    }
  }
}
