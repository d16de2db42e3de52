import Foundation
import RNNFormat
import RNNModel
import Testing

/// Replays every input in Fuzz/regressions/ through the reader: each must load or fail with an
/// error, never trap. scripts/fuzz.sh explains how inputs get there.
@Suite struct FuzzRegressionTests {
  static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

  static var inputs: [String] { files(in: folder) }

  /// The regular files of `folder` but its README: the inputs of one fuzz target.
  static func files(in folder: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { name in
      var directory: ObjCBool = false
      let exists = FileManager.default.fileExists(
        atPath: folder.appendingPathComponent(name).path, isDirectory: &directory)
      return exists && !name.hasSuffix(".md") && !directory.boolValue
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

/// Replays Fuzz/regressions/vocabulary/ (the FuzzVocabulary target) through `readVocabularyFile`:
/// each file gives tokens, one per line, or a one-line error.
@Suite struct VocabularyFuzzRegressionTests {
  static let folder = FuzzRegressionTests.folder.appendingPathComponent("vocabulary")
  static var inputs: [String] { FuzzRegressionTests.files(in: folder) }

  @Test func thereAreRegressionInputs() {
    #expect(!Self.inputs.isEmpty, "Fuzz/regressions/vocabulary/ is empty")
  }

  @Test(arguments: inputs)
  func replays(name: String) throws {
    let path = Self.folder.appendingPathComponent(name).path
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let read = Result { try readVocabularyFile(path) }
    // Reading the file and parsing its bytes agree (an empty file once read as unreadable).
    #expect("\(read)" == "\(Result { try parseVocabulary(bytes, path: path) })")
    switch read {
    case .success(let tokens):
      var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
      // A final line that is empty, or only the carriage return of a "\r\n", ends the file.
      if lines.last?.isEmpty == true || lines.last.map(Array.init) == [0x0D] { lines.removeLast() }
      // One token per line ("\r\n" files once gave one token holding every line).
      #expect(tokens.count == lines.count)
      #expect(tokens.allSatisfy { !$0.isEmpty && !$0.unicodeScalars.contains { $0 == "\n" || $0 == "\r" } })
    case .failure(let error):
      let message = "\(error)"
      #expect(message.hasPrefix(path + ": "))
      #expect(!message.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(message)")
    }
  }
}
