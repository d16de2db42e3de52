import Foundation
import RNNFormat
import Testing

/// A tensor of 8 MiB or more copied from storage is written on one core and hashed on another,
/// from the file as written where the descriptor reads, else from the source. Either way the file
/// must be the one the in-memory encoder builds.
@Suite struct LargeTensorWriteTests {
  /// 2,100,000 f32 (8.4 MB, just over the 8 MiB threshold, with a short last 1 MiB chunk) in a
  /// storage of its own, and a small tensor after it.
  func tensors() -> [TensorSource] {
    var random = UInt64(3)
    let count = 2_100_000
    var bytes = [UInt8](repeating: 0, count: count * 4)
    for index in 0..<bytes.count {
      random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      bytes[index] = UInt8(truncatingIfNeeded: random >> 56)
    }
    let storage = ByteStorage(copying: bytes)
    let entry = TensorEntry(
      name: "big", dtype: DTypeCode(DType.f32), shape: [count], offset: 0, byteCount: bytes.count, checksum: 0
    )
    return [
      TensorSource(copying: TensorView(entry: entry, storage: storage)),
      TensorSource(name: "small", dtype: .f32, shape: [3], payload: .floats([1, 2, 3])),
    ]
  }

  @Test func largeViewsAreWrittenAsTheEncoderEncodesThem() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "rnnkit-large-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    var metadata = Metadata()
    metadata["k"] = .string("v")
    let expected = Data(try ContainerWriter.encode(metadata: metadata, tensors: tensors()))

    // By path: the writer opens the file readable and hashes what it reads back.
    let byPath = folder.appendingPathComponent("path.rnn").path
    try ContainerWriter.write(metadata: metadata, tensors: tensors(), to: byPath)
    let samePath = try Data(contentsOf: URL(fileURLWithPath: byPath)) == expected
    #expect(samePath, "the file written by path differs from the encoding")

    // Into a write-only descriptor: the writer hashes the source instead.
    let intoDescriptor = folder.appendingPathComponent("fd.rnn")
    #expect(FileManager.default.createFile(atPath: intoDescriptor.path, contents: nil))
    let handle = try FileHandle(forWritingTo: intoDescriptor)
    try ContainerWriter.write(metadata: metadata, tensors: tensors(), toDescriptor: handle.fileDescriptor)
    try handle.close()
    let sameDescriptor = try Data(contentsOf: intoDescriptor) == expected
    #expect(sameDescriptor, "the file written into a write-only descriptor differs from the encoding")
    _ = try Container.open(path: intoDescriptor.path)
  }
}
