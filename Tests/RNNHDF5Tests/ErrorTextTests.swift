import Testing

@testable import RNNHDF5

/// libhdf5's error descriptions become one line.
@Suite struct ErrorTextTests {
  /// The description libhdf5 1.10's sec2 driver gave for a write on a full disk (file name changed).
  @Test func anIOErrorKeepsTheSystemMessageAndErrno() {
    let text =
      "file write failed: time = Mon Nov 30 09:40:12 2026\n, filename = 'models/.x.h5.tmp-11801-1', file descriptor = 6, errno = 28, error message = 'No space left on device', buf = 0x561b1c571d90, total write size = 4032, bytes this sub-write = 4032, bytes actually written = 18446744073709551615, offset = 0 (H5FD__sec2_write)"
    #expect(
      H5Library.oneLine(text) == "file write failed: No space left on device (errno 28) (H5FD__sec2_write)")
  }

  @Test func otherTextLosesItsLineBreaks() {
    #expect(H5Library.oneLine("first line\n second\r\n\tthird (H5X)") == "first line second third (H5X)")
    #expect(
      H5Library.oneLine("truncated file: eof = 4096 (H5F__super_read)")
        == "truncated file: eof = 4096 (H5F__super_read)")
  }
}
