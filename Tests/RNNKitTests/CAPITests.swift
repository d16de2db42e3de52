import Foundation
import Testing

/// The C interface as a C programmer meets it: installed with scripts/install.sh, found with
/// pkg-config, the example built with `cc` and run, and every function exercised under
/// AddressSanitizer and LeakSanitizer.
@Suite(.serialized) struct CAPITests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  /// The build folder holding `rnnkit` and `librnnkit-c.so`, beside the test bundle.
  static var binFolder: URL {
    var folder = Bundle.main.bundleURL
    for _ in 0..<3 where !FileManager.default.fileExists(atPath: folder.appendingPathComponent("rnnkit").path)
    {
      folder = folder.deletingLastPathComponent()
    }
    return folder
  }

  /// Runs `script` with bash in `folder`; returns the status and what it printed (both streams
  /// go to files, so nothing can block on a full pipe).
  static func shell(_ script: String, in folder: URL, environment: [String: String] = [:]) throws -> (
    status: Int32, output: String
  ) {
    let log = folder.appendingPathComponent("log-\(UUID().uuidString).txt")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", "(\(script)) >'\(log.path)' 2>&1"]
    process.currentDirectoryURL = root
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    try process.run()
    process.waitUntilExit()
    let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    return (process.terminationStatus, output)
  }

  /// Installs into a fresh prefix and returns it.
  static func install() throws -> URL {
    let prefix = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-prefix-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: prefix, withIntermediateDirectories: true)
    let result = try shell(
      "bash scripts/install.sh '\(prefix.path)'", in: prefix, environment: ["RNNKIT_BIN_DIR": binFolder.path])
    try #require(result.status == 0, "\(result.output)")
    return prefix
  }

  @Test func theExampleBuildsWithPkgConfigAndAnswersJapanese() throws {
    let prefix = try Self.install()
    defer { try? FileManager.default.removeItem(at: prefix) }
    let pkg = "PKG_CONFIG_PATH='\(prefix.path)/lib/pkgconfig'"
    let build = try Self.shell(
      "cc examples/c/predict.c -o '\(prefix.path)/predict' $(\(pkg) pkg-config --cflags --libs rnnkit)",
      in: prefix)
    try #require(build.status == 0, "\(build.output)")
    for model in ["cuisine.rnn", "cuisine.h5"] {
      // Unset: the installed library must find the installed rnnkit for the isolated HDF5 read.
      let run = try Self.shell(
        "env -u RNNKIT_EXECUTABLE '\(prefix.path)/predict' Fixtures/\(model) 'My favourite dish is sushi. So, my favourite cuisine is'",
        in: prefix)
      #expect(run.status == 0, "\(run.output)")
      #expect(run.output.hasPrefix("japanese 0.99"), "\(model): \(run.output)")
    }
  }

  @Test func everyFunctionIsCleanUnderAddressAndLeakSanitizer() throws {
    let prefix = try Self.install()
    defer { try? FileManager.default.removeItem(at: prefix) }
    let pkg = "PKG_CONFIG_PATH='\(prefix.path)/lib/pkgconfig'"
    let build = try Self.shell(
      "cc -fsanitize=address -fno-omit-frame-pointer -g Tests/CAPI/api_test.c -o '\(prefix.path)/api_test' $(\(pkg) pkg-config --cflags --libs rnnkit) -lm",
      in: prefix)
    try #require(build.status == 0, "\(build.output)")
    let output = prefix.appendingPathComponent("out")
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    let run = try Self.shell(
      "env -u RNNKIT_EXECUTABLE '\(prefix.path)/api_test' Fixtures/cuisine.rnn Fixtures/hostile/libhdf5-segfault.h5 '\(output.path)'",
      in: prefix, environment: ["ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"])
    #expect(run.status == 0, "\(run.output)")
    #expect(run.output.contains("ok "), "\(run.output)")
    #expect(!run.output.contains("Sanitizer"), "\(run.output)")
  }
}
