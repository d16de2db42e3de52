import RNNModel

/// Feeds arbitrary bytes, as text, to the tokenizer at both levels, lower-casing or not, against
/// a small vocabulary. Every id must be in range, every unknown word must really be unknown, and
/// text made of known tokens must encode back to the same ids after a join.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  for level in TokenizerSettings.Level.allCases {
    for lowercase in [false, true] {
      let settings = TokenizerSettings(
        level: level, lowercase: lowercase, splitPunctuation: true, unknownToken: "<unk>")
      let tokenizer = Tokenizer(settings: settings)
      let (ids, unknown) = tokenizer.encode(text, vocabulary: vocabulary)
      for id in ids where id < 0 || id >= vocabulary.count {
        fatalError("id \(id) outside a vocabulary of \(vocabulary.count)")
      }
      for word in unknown where vocabulary.id(of: word) != nil {
        fatalError("\(word.debugDescription) reported unknown but is in the vocabulary")
      }
      let known = ids.filter { $0 != unknownID }.map { vocabulary[$0] }
      let again = tokenizer.encode(tokenizer.join(known), vocabulary: vocabulary).ids
      if level == .word, again != ids.filter({ $0 != unknownID }) {
        fatalError("join then encode changed \(known) into \(again.map { vocabulary[$0] })")
      }
    }
  }
  return 0
}

private let vocabulary: Vocabulary = {
  let tokens = ["<unk>", "my", "favourite", "dish", "is", "sushi", ".", ",", "so", "é", "日本", "a", "b"]
  do { return try Vocabulary(tokens) } catch { fatalError("\(error)") }
}()
private let unknownID = 0
