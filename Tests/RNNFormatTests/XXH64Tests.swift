import RNNFormat
import Testing

@Suite struct XXH64Tests {
  // Reference digests from the Python `xxhash` package (xxh64, seed 0).
  @Test func matchesTheReferenceImplementation() {
    #expect(XXH64.hash([UInt8]()) == 0xEF46_DB37_51D8_E999)
    #expect(XXH64.hash([UInt8](repeating: 0x61, count: 100)) == 0x3750_41E8_B1DE_CFB3)
    let ramp = (0..<3).flatMap { _ in (0...255).map { UInt8($0) } }
    #expect(XXH64.hash(ramp) == 0x8E03_C838_C596_036F)
  }

  @Test func streamingInAnyChunkingEqualsOneShot() {
    let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    let expected = XXH64.hash(bytes)
    for chunk in [1, 3, 7, 31, 32, 33, 64, 999] {
      var hasher = XXH64()
      var start = 0
      while start < bytes.count {
        let end = min(start + chunk, bytes.count)
        hasher.update(Array(bytes[start..<end]))
        start = end
      }
      #expect(hasher.digest() == expected, "chunk size \(chunk)")
    }
  }
}
