import RNNFileFormats
import RNNFormat
import Testing

/// The formats' `file: part: reason` errors are one type, told apart by format.
@Suite struct FilePartErrorTests {
  @Test func oneLineWithTheFileControlledTextEscaped() {
    let error = NumPyError(path: "m.npz", part: "W.npy\n: descr", reason: "is '\u{1B}[2J'")
    #expect(error.description == "m.npz: W.npy\\u{a}: descr: is '\\u{1b}[2J'")
    #expect(!error.description.contains("\n"))
    #expect(error.naming("out.npz").description.hasPrefix("out.npz: "))
  }

  @Test func eachFormatsErrorsAreCaughtByTheirOwnName() {
    let errors: [any Error] = [
      SafetensorsError(path: "a", part: "p", reason: "r"), NumPyError(path: "a", part: "p", reason: "r"),
      ONNXError(path: "a", part: "p", reason: "r"), PyTorchError(path: "a", part: "p", reason: "r"),
    ]
    #expect(errors.map { $0 is SafetensorsError } == [true, false, false, false])
    #expect(errors.map { $0 is NumPyError } == [false, true, false, false])
    #expect(errors.map { $0 is ONNXError } == [false, false, true, false])
    #expect(errors.map { $0 is PyTorchError } == [false, false, false, true])
    #expect(errors.allSatisfy { "\($0)" == "a: p: r" })
  }
}
