import Foundation
import RNNFormat
import RNNModel

/// The model settings that formats without typed metadata (safetensors `__metadata__`, the JSON
/// entry RNNKit adds to PyTorch archives) keep as strings: the `.rnn` metadata keys, booleans as
/// `true`/`false`, and the vocabulary as a JSON array under `rnnkit.vocabulary`.
package struct StringMetadata {
  package static let vocabularyKey = "rnnkit.vocabulary"

  package var values: [String: String]

  /// The strings that describe `model`.
  package init(describing model: ElmanModel) throws {
    values = [:]
    for (key, value) in model.containerMetadata {
      switch value {
      case .string(let s): values[key] = s
      case .bool(let b): values[key] = b ? "true" : "false"
      case .int(let i): values[key] = String(i)
      case .float(let d): values[key] = String(d)
      default: continue
      }
    }
    if let vocabulary = model.vocabulary {
      let json = try JSONSerialization.data(withJSONObject: vocabulary.tokens)
      values[Self.vocabularyKey] = String(decoding: json, as: UTF8.self)
    }
  }

  package init(_ values: [String: String]) { self.values = values }

  /// The activation under `key`, unless `override` supplies it, or `standIn` when the key is absent
  /// and one is given; `fail` builds the error from the key, the whole reason, and what the caller
  /// could supply.
  func activation<T>(
    _ key: String, _ override: T?, _ parse: (String) -> T?, input: ModelInput, standIn: T? = nil,
    fail: (String, String, ModelInput?) -> any Error
  ) throws -> T {
    if let override { return override }
    guard let name = values[key] else {
      if let standIn { return standIn }
      throw fail(key, "has no \(key)", input)
    }
    guard let value = parse(name) else { throw fail(key, "\(key) \"\(name)\" is not known", nil) }
    return value
  }

  /// The supplied vocabulary, else the stored one, else nil.
  func tokens(options: ImportOptions, fail: (String, String, ModelInput?) -> any Error) throws -> [String]? {
    if let supplied = try options.suppliedVocabulary() { return supplied }
    return try storedTokens(fail: fail)
  }

  /// The stored vocabulary, or nil.
  package func storedTokens(fail: (String, String, ModelInput?) -> any Error) throws -> [String]? {
    guard let json = values[Self.vocabularyKey] else { return nil }
    guard let list = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String] else {
      throw fail(Self.vocabularyKey, "\(Self.vocabularyKey) is not a JSON array of strings", nil)
    }
    return list
  }

  /// Tokenizer settings as stored, with `<unk>` as the unknown token when the vocabulary has it.
  package func tokenizer(tokens: [String]?) -> TokenizerSettings {
    var tokenizer = TokenizerSettings(unknownToken: nil)
    if let level = values[Schema.tokenizerLevel].flatMap(TokenizerSettings.Level.init(rawValue:)) {
      tokenizer.level = level
    }
    tokenizer.lowercase = values[Schema.tokenizerLowercase] == "true"
    tokenizer.splitPunctuation = values[Schema.tokenizerSplitPunctuation] == "true"
    tokenizer.unknownToken =
      values[Schema.tokenizerUnknownToken] ?? (tokens?.contains("<unk>") == true ? "<unk>" : nil)
    tokenizer.endOfSequence = values[Schema.tokenizerEndOfSequence]
    return tokenizer
  }

  /// Where the model came from, as stored; `sourceFormat` is the format being read.
  package func provenance(sourceFormat: String) -> Provenance {
    Provenance(
      name: values[Schema.name], description: values[Schema.description], sourceFormat: sourceFormat,
      converterVersion: values[Schema.converterVersion], created: values[Schema.created])
  }
}
