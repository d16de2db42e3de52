import ArgumentParser
import Foundation
import RNNKit

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Convert a model between rnn, hdf5, keras-h5, keras-weights, keras (read only) and safetensors.",
    discussion: """
      The input format is detected from the content first and the file name second; the output \
      format comes from --to or the output file name (.rnn, .h5/.hdf5 for the plain layout, \
      .weights.h5). Keras files store no vocabulary (pass --vocab) and .weights.h5 files no \
      activations (pass --hidden-activation and --output-activation).
      The output is written to a temporary file next to it and renamed into place only when \
      everything, including --verify, succeeded. The input is never overwritten.
      """)

  @Argument(help: "The model to read.")
  var input: String

  @Argument(help: "The file to write.")
  var output: String

  @OptionGroup var source: ModelInputOptions

  @Option(help: "The output format (rnn, hdf5, keras-h5, keras-weights); from the file name by default.")
  var to: String?

  @Option(
    help:
      "The dtype of W, b, V and c in the output (f32, f16, bf16 for .rnn, f64). Default: f32 for HDF5, as stored for .rnn."
  )
  var dtype: String?

  @Flag(help: "Replace an existing output file.")
  var force = false

  @Flag(help: "Run the forward pass of the source and the result on several sequences and compare.")
  var verify = false

  func run() throws {
    let outputFormat = try ModelFormats.forOutput(path: output, name: to)
    let dtype = try dtype.map { name in
      guard let value = DType(name: name), value.isFloatingPoint else {
        throw CLIError("--dtype \(name) is not a float dtype; choose f32, f16, bf16 or f64")
      }
      return value
    }

    if let inputID = fileID(input), let outputID = fileID(output), inputID == outputID {
      throw CLIError("\(output): is the input file; refusing to overwrite it")
    }
    // Before any work: a link, a device, a FIFO or a socket is never replaced, even with --force.
    do { try AtomicFile.checkDestination(output, overwrite: force) } catch .destinationExists {
      throw CLIError("\(output): already exists; pass --force to replace it")
    } catch { throw ContainerError(path: output, error: error) }

    let loaded = try source.read(input)
    let model = loaded.model
    // The NaN/Inf scan reads every weight once; it runs on another core while the output is
    // written, which reads them too.
    let scan = BackgroundScan(model)

    // Write next to the output, verify there, and only then put it in place. The format writer's
    // own atomic write of `output` joins this one: one temporary file, one fsync.
    var report = ""
    do {
      try AtomicFile.write(to: output, overwrite: force) { temporary in
        try outputFormat.write(model, to: output, options: ExportOptions(dtype: dtype, overwrite: force))
        for problem in scan.problems() {
          FileHandle.standardError.write(Data("warning: \(input): \(problem)\n".utf8))
        }
        guard verify else { return }
        // The writer may have named the temporary file (HDF5 does); read it by that name then.
        let temporary = AtomicFile.temporaryPath(of: output) ?? temporary
        let written: ElmanModel
        do {
          written = try outputFormat.read(
            path: temporary, options: ImportOptions(restoring: model, in: outputFormat))
        } catch {
          // The reader names the path it was given, a temporary one the user never saw.
          throw CLIError("\(error)".replacingOccurrences(of: temporary, with: output))
        }
        let (difference, count) = try compare(model, written)
        let tolerance = Self.tolerance(dtype: dtype ?? model.W.dtype, format: outputFormat.name)
        report = "; verify: largest difference \(difference) over \(count) sequences (tolerance \(tolerance))"
        guard difference <= tolerance else {
          throw CLIError(
            "\(output): verification failed: the largest output difference \(difference) exceeds \(tolerance); nothing was written"
          )
        }
      }
    } catch FormatError.destinationExists {
      throw CLIError("\(output): already exists; pass --force to replace it")
    } catch let error as FormatError {
      throw ContainerError(path: output, error: error)
    }
    print(
      "\(input) (\(loaded.format)) -> \(output) (\(outputFormat.name)): H \(model.hiddenSize), X \(model.inputSize), O \(model.outputSize)\(report)"
    )
  }

  /// f32 output is exact up to summation order; half-precision outputs lose about 3 decimal digits.
  static func tolerance(dtype: DType, format: String) -> Double {
    switch dtype {
    case .f16: return 1e-2
    case .bf16: return 5e-2
    default: return 1e-5
    }
  }

  /// Runs both models on the same sequences and returns the largest difference of any output
  /// (relative above 1, absolute below).
  func compare(_ a: ElmanModel, _ b: ElmanModel) throws -> (Double, Int) {
    let left = try InferenceModel(a)
    let right = try InferenceModel(b)
    var generator = SplitMix64(seed: 0x5EED)
    var largest = 0.0
    let lengths = [1, 2, 5, 9, 16]
    for length in lengths {
      let l: ForwardResult
      let r: ForwardResult
      if a.inputKind == .tokens {
        let tokens = (0..<length).map { _ in Int(generator.next() % UInt64(a.inputSize)) }
        l = try left.forward(tokens: tokens)
        r = try right.forward(tokens: tokens)
      } else {
        let vectors = (0..<length).map { _ in
          (0..<a.inputSize).map { _ in Float(generator.nextUnit()) * 2 - 1 }
        }
        l = try left.forward(vectors: vectors)
        r = try right.forward(vectors: vectors)
      }
      for (x, y) in zip(l.outputs.joined(), r.outputs.joined()) {
        if x.isNaN || y.isNaN || x.isInfinite || y.isInfinite {
          // Non-finite outputs must agree exactly (NaN with NaN, +inf with +inf).
          if !(x.isNaN && y.isNaN) && x != y { largest = .infinity }
          continue
        }
        largest = max(largest, abs(Double(x) - Double(y)) / max(1, abs(Double(x))))
      }
    }
    return (largest, lengths.count)
  }

  private func fileID(_ path: String) -> (UInt64, UInt64)? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return (UInt64(info.st_dev), UInt64(info.st_ino))
  }
}

/// Looks for NaN and infinite weights on a background thread.
final class BackgroundScan: @unchecked Sendable {
  // `result` is written once by the thread before it signals, and read only after waiting.
  private var result: [ModelError] = []
  private let done = DispatchSemaphore(value: 0)

  init(_ model: ElmanModel) {
    let thread = Thread { [self] in
      result = model.nonFiniteWeights()
      done.signal()
    }
    thread.start()
  }

  /// The problems found, waiting for the scan to finish.
  func problems() -> [ModelError] {
    done.wait()
    done.signal()
    return result
  }
}
