import RNNFormat
import Testing

/// The one byte-count rendering: whole bytes below 1 KiB, then one decimal in powers of 1024.
@Suite struct ByteCountTextTests {
  @Test func rendersBytesInPowersOf1024WithOneDecimal() {
    #expect(byteCountText(0) == "0 B")
    #expect(byteCountText(1023) == "1023 B")
    #expect(byteCountText(1024) == "1.0 KiB")
    #expect(byteCountText(1536) == "1.5 KiB")
    #expect(byteCountText(12_897_485) == "12.3 MiB")
    #expect(byteCountText(3 << 30) == "3.0 GiB")
    #expect(byteCountText(5 << 50) == "5120.0 TiB")
  }
}
