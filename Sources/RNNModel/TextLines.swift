/// How a text splits into lines for scoring, training and the unknown-word report: one rule, so
/// all three see the same lines.
public enum TextLines {
  /// The non-empty lines of `text`, split where a Character is a newline. ASCII text is split byte
  /// by byte (the newline Characters there are LF, VT, FF, CR and CR LF), which gives the same
  /// lines without breaking the text into grapheme clusters.
  public static func split(_ text: String) -> [Substring] {
    let utf8 = text.utf8
    let ascii = utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy { $0 < 0x80 } } ?? false
    guard ascii else { return text.split(whereSeparator: \.isNewline) }
    return utf8.split(whereSeparator: { $0 >= 0x0A && $0 <= 0x0D }).map { Substring($0) }
  }
}
