import ArgumentParser
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
    for problem in problems { print("\(file): \(problem)") }
    throw ExitCode(1)
  }

  /// Every problem found, in file order. Structural errors stop the search, since nothing after
  /// them can be trusted.
  func findProblems() throws -> [String] {
    let isRNN =
      try input.format.map { $0 == "rnn" } ?? !ModelSource.needsIsolation(path: file, format: nil)
      && ModelFormats.detect(path: file) is RNNFileFormat
    let model: ElmanModel
    var problems: [String] = []
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
      for name in container.corruptTensors() {
        let entry = container.entry(named: name)!
        problems.append(
          FormatError.checksumMismatch(
            part: "tensor \"\(name)\"", stored: entry.checksum, computed: container.checksum(of: entry)
          ).description)
      }
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
        let message = "\(error)"
        return [message.hasPrefix("\(file): ") ? String(message.dropFirst(file.count + 2)) : message]
      }
    }
    if let vocabulary = model.vocabulary {
      do { try vocabulary.checkUnique() } catch { problems.append(error.description) }
    }
    problems += model.nonFiniteWeights().map(\.description)
    return problems
  }
}
