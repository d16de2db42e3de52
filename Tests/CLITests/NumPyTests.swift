import Foundation
import Testing

/// `.npz` through the command: every fixture converts, verifies and comes back equal.
@Suite struct NumPyTests {
  @Test(arguments: ["token-f32.rnn", "token-f16.rnn", "token-bf16.rnn", "token-f64.rnn", "dense-f32.rnn"])
  func convertsToNpzAndBackExactly(fixture: String) throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let npz = folder.appendingPathComponent("m.npz").path
    let back = folder.appendingPathComponent("back.rnn").path
    let out = try CLI.run(["convert", CLI.fixture(fixture), npz, "--verify"])
    #expect(out.status == 0, "\(out.stderr)")
    #expect(out.stdout.contains("(npz)") && out.stdout.contains("largest difference 0.0"), "\(out.stdout)")
    let again = try CLI.run(["convert", npz, back])
    #expect(again.status == 0, "\(again.stderr)")
    // bf16 has no NumPy dtype: it is written as f32, which holds every bf16 value exactly.
    let diff = try CLI.run(["diff", CLI.fixture(fixture), back])
    #expect(diff.status == 0, "\(diff.stdout)")
    #expect(diff.stdout.contains("equal within 0"), "\(diff.stdout)")
  }

  @Test func whatAForeignArchiveLacksIsAskedForByFlag() throws {
    let folder = try CLI.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let npz = folder.appendingPathComponent("m.npz").path
    #expect(try CLI.run(["convert", CLI.fixture("dense-f32.rnn"), npz]).status == 0)
    // Drop the metadata entry with Python's zipfile, as an archive from np.savez would lack it.
    let python = Process()
    python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    python.arguments = [
      "python3", "-c",
      "import sys, zipfile; a = zipfile.ZipFile(sys.argv[1]); b = zipfile.ZipFile(sys.argv[2], 'w')\n"
        + "for n in a.namelist():\n    if n != 'metadata.npy': b.writestr(n, a.read(n))\nb.close()",
      npz, folder.appendingPathComponent("bare.npz").path,
    ]
    try python.run()
    python.waitUntilExit()
    #expect(python.terminationStatus == 0)
    let bare = folder.appendingPathComponent("bare.npz").path
    // Running needs the activations (inspect and validate stand in for them).
    let refused = try CLI.run(["convert", bare, folder.appendingPathComponent("bare.rnn").path])
    #expect(refused.status == 1)
    #expect(
      refused.stderr
        == "Error: \(bare): archive: has no metadata.npy to give rnn.hidden_activation; pass --hidden-activation\n",
      "\(refused.stderr)")
    let read = try CLI.run([
      "inspect", bare, "--hidden-activation", "tanh", "--output-activation", "identity",
    ])
    #expect(read.status == 0, "\(read.stderr)")
  }
}
