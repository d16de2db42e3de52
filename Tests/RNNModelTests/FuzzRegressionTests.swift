import Foundation
import RNNFormat
import RNNModel
import Testing

/// Replays every input in Fuzz/regressions/ through the reader: each must load or fail with an
/// error, never trap. scripts/fuzz.sh explains how inputs get there.
@Suite struct FuzzRegressionTests {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

  static var inputs: [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter {
      !$0.hasSuffix(".md")
    }.sorted()
  }

  @Test func thereAreRegressionInputs() {
    #expect(!Self.inputs.isEmpty, "Fuzz/regressions/ is empty; the replay below would test nothing")
  }

  @Test(arguments: inputs)
  func replays(name: String) throws {
    let bytes = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent(name)))
    for verify in [false, true] {
      do {
        let model = try loadModel(bytes, verify: verify)
        // Whatever loads must survive its own round trip.
        let encoded = try model.encoded()
        let again = try loadModel(encoded)
        #expect(try again.encoded() == encoded)
      } catch {
        // Whatever fails says so in one line of printable text.
        let message = "\(error)"
        #expect(
          !message.unicodeScalars.contains { $0.properties.generalCategory == .control },
          "\(message.debugDescription)")
      }
    }
  }
}
