import Foundation
import Testing

/// Every public declaration has a doc comment, written above it or inherited by DocC from the
/// protocol requirement it implements (the names below).
@Suite struct DocCommentTests {
  /// Requirements of the protocols public types conform to; DocC shows the requirement's comment.
  static let inherited: Set<String> = [
    "name", "summary", "extensions", "capabilities", "writableDTypes", "readIsolation", "recognizes", "read",
    "write", "requestedInput", "description", "debugDescription", "errorDescription", "rawValue", "allCases",
    "allValueStrings", "defaultValueDescription", "hash", "encode", "==",
  ]

  @Test func everyPublicDeclarationIsDocumented() throws {
    let sources = CLI.root.appendingPathComponent("Sources")
    let declaration = try Regex(
      #"^\s*(?:(?:nonisolated|final|override|static|mutating|convenience|required|indirect|lazy)\s+)*public\s+(?:(?:static|final|override|mutating|convenience|required|nonisolated|lazy|indirect)\s+)*(func|var|let|struct|enum|class|protocol|init|typealias|subscript|case|actor)\b\s*([A-Za-z_=<>]*)"#
    )
    var undocumented: [String] = []
    var checked = 0
    let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
    while let url = files?.nextObject() as? URL {
      guard url.pathExtension == "swift", !url.path.contains("/RNNKitCLI/") else { continue }
      let lines = try String(contentsOf: url, encoding: .utf8).split(
        separator: "\n", omittingEmptySubsequences: false)
      for (index, line) in lines.enumerated() {
        guard let match = try declaration.firstMatch(in: String(line)) else { continue }
        checked += 1
        let name = match.output[2].substring.map(String.init) ?? ""
        if Self.inherited.contains(name) || line.contains("init(rawValue") || line.contains("init(from")
          || line.contains("init(argument")
        {
          continue
        }
        var above = index - 1
        while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("@") { above -= 1 }
        if above < 0 || !lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("///") {
          undocumented.append(
            "\(url.lastPathComponent):\(index + 1): \(line.trimmingCharacters(in: .whitespaces))")
        }
      }
    }
    #expect(checked > 300, "found only \(checked) public declarations")
    #expect(
      undocumented.isEmpty, "\(undocumented.count) undocumented:\n\(undocumented.joined(separator: "\n"))")
  }
}
