import ArgumentParser
import RNNKit

/// A format name that `--from` accepts: every readable format in the registry, so help and shell
/// completions list exactly what the library reads.
struct InputFormatName: ExpressibleByArgument, CaseIterable, Hashable {
  let name: String

  init?(argument: String) {
    guard ModelFormats.readable.contains(where: { $0.name == argument }) else { return nil }
    name = argument
  }

  static var allCases: [InputFormatName] { ModelFormats.readable.map { InputFormatName(name: $0.name) } }
  private init(name: String) { self.name = name }
  static var allValueStrings: [String] { allCases.map(\.name) }
  var defaultValueDescription: String { name }
}

/// A format name that `--to` accepts: every writable format in the registry.
struct OutputFormatName: ExpressibleByArgument, CaseIterable, Hashable {
  let name: String

  init?(argument: String) {
    guard ModelFormats.writable.contains(where: { $0.name == argument }) else { return nil }
    name = argument
  }

  static var allCases: [OutputFormatName] { ModelFormats.writable.map { OutputFormatName(name: $0.name) } }
  private init(name: String) { self.name = name }
  static var allValueStrings: [String] { allCases.map(\.name) }
  var defaultValueDescription: String { name }
}

/// Help texts built from the registry, so no list of formats is written by hand.
enum FormatHelp {
  /// One line per format: its name, what it is, and whether it reads, writes, or both.
  static var table: String {
    ModelFormats.all.map { format in
      let access =
        format.isReadable && format.isWritable
        ? "read, write" : format.isReadable ? "read only" : "write only"
      return "  \(format.name): \(format.summary) (\(access))"
    }.joined(separator: "\n")
  }

  static var readableNames: String { ModelFormats.readable.map(\.name).joined(separator: ", ") }
  static var writableNames: String { ModelFormats.writable.map(\.name).joined(separator: ", ") }
}
