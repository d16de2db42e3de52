import ArgumentParser
import Foundation
import RNNKit

struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check that a model file is well-formed, every checksum matches and every weight is finite.",
    discussion: """
      Exits 0 when the file passes every check. Otherwise prints one line per problem and exits 1.
      """)

  @Argument(help: "The model file.")
  var file: String

  @OptionGroup var input: ModelInputOptions

  func run() throws {
    let problems = try findProblems()
    if problems.isEmpty {
      print("\(file): OK")
      return
    }
    // Problems are diagnostics: they go to stderr, like every other error.
    for problem in problems { FileHandle.standardError.write(Data("\(file): \(problem)\n".utf8)) }
    throw ExitCode(1)
  }

  /// Every problem found, in file order. Structural errors stop the search, since nothing after
  /// them can be trusted.
  func findProblems() throws -> [String] {
    let isRNN = try ModelSource.isNativeRNN(path: file, format: input.format)
    let model: ElmanModel
    var problems: [String] = []
    var nonFinite: [ModelError] = []
    var scanned = false
    if isRNN {
      // Open without verification so that every corrupt part is listed, not just the first.
      let container: Container
      do {
        container = try Container(
          storage: ByteStorage(mapping: file),
          options: ReadOptions(verifyChecksums: false, verifyHeaderChecksum: false))
      } catch {
        return [error.description]
      }
      let computed = container.computedHeaderChecksum()
      if computed != container.storedHeaderChecksum {
        problems.append(
          FormatError.checksumMismatch(
            part: "header", stored: container.storedHeaderChecksum, computed: computed
          )
          .description)
      }
      // One pass over the data: checksums, and non-finite weights of W, b, V and c.
      let scans = container.scan()
      for scan in scans where !scan.checksumMatches {
        let entry = container.entry(named: scan.name)!
        problems.append(
          FormatError.checksumMismatch(
            part: "tensor \"\(scan.name)\"", stored: entry.checksum, computed: scan.computedChecksum
          ).description)
      }
      for scan in scans where ["W", "b", "V", "c"].contains(scan.name) && scan.nanCount + scan.infCount > 0 {
        nonFinite.append(
          ModelError.nonFinite(tensor: scan.name, nanCount: scan.nanCount, infCount: scan.infCount))
      }
      scanned = true
      do {
        model = try ElmanModel(container: container)
      } catch {
        return problems + [error.description]
      }
    } else {
      do {
        model = try input.read(file).model
      } catch let error as ModelFileError {
        return [error.error.description]
      } catch {
        let message = "\(Advice.adding(to: error))"
        return [message.hasPrefix("\(file): ") ? String(message.dropFirst(file.count + 2)) : message]
      }
    }
    if let vocabulary = model.vocabulary {
      do { try vocabulary.checkUnique() } catch { problems.append(error.description) }
    }
    if !scanned { nonFinite = model.nonFiniteWeights() }
    problems += nonFinite.map(\.description)
    return problems
  }
}
