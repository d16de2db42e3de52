import RNNFormat
import Testing

@testable import RNNRuntime

/// Large scratch panels are laid out so that the system can back them with huge pages.
@Suite struct HugePageTests {
  @Test func largePanelsStartOnAHugePageAndAreUsable() {
    let count = System.hugePageAdviceMinimum / MemoryLayout<Float>.stride + 3
    let panels = PackedMatrix.allocate(count)
    defer { UnsafeMutableRawPointer(panels).deallocate() }
    #expect(UInt(bitPattern: panels) % UInt(System.hugePageAlignment) == 0)
    panels.update(repeating: 1.5, count: count)
    #expect(panels[0] == 1.5 && panels[count - 1] == 1.5)
  }

  @Test func smallPanelsKeepTheCacheLineAlignment() {
    let panels = PackedMatrix.allocate(1000)
    defer { UnsafeMutableRawPointer(panels).deallocate() }
    #expect(UInt(bitPattern: panels) % 64 == 0)
  }

  @Test func adviceOnAnyRangeLeavesTheBytesAlone() {
    // Unaligned, tiny and large ranges: advice never changes what the memory holds.
    for bytes in [1, 4096, System.hugePageAdviceMinimum + 12_345] {
      let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 1)
      defer { memory.deallocate() }
      memory.initializeMemory(as: UInt8.self, repeating: 7, count: bytes)
      System.adviseHugePages(memory + 1, byteCount: bytes - 1)
      #expect(memory.load(fromByteOffset: bytes - 1, as: UInt8.self) == 7)
      #expect(memory.load(as: UInt8.self) == 7)
    }
  }
}
