import CRNNKitABI
import Foundation
import RNNKit

// Written once, at first use, and never again.
nonisolated(unsafe) private let versionString = strdup(rnnkitVersion)!

/// Implements `rnnkit_version`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_version")
public func cVersion() -> UnsafePointer<CChar> { UnsafePointer(versionString) }

/// Implements `rnnkit_last_error`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_last_error")
public func cLastError() -> UnsafePointer<CChar> { LastError.current.cString }

/// Implements `rnnkit_string_free`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_string_free")
public func cStringFree(_ string: UnsafeMutablePointer<CChar>?) { free(string) }

/// Implements `rnnkit_open_options_init`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_open_options_init")
public func cOpenOptionsInit(_ options: UnsafeMutablePointer<rnnkit_open_options>?) {
  options?.pointee = rnnkit_open_options(
    verify_checksums: 1, isolate: 1, format: nil, vocabulary_path: nil, hidden_activation: nil,
    output_activation: nil)
}

/// The import options, format and isolation policy `options` asks for (NULL: the defaults).
func reading(_ options: UnsafePointer<rnnkit_open_options>?) throws -> (
  ImportOptions, String?, IsolationPolicy
) {
  var defaults = rnnkit_open_options()
  cOpenOptionsInit(&defaults)
  let given = options?.pointee ?? defaults
  var importOptions = ImportOptions(
    vocabularyPath: given.vocabulary_path.map { String(cString: $0) },
    readOptions: ReadOptions(verifyChecksums: given.verify_checksums != 0))
  // The runtime verifies the blocks of W and V before it reads them; the tensor views handed out
  // verify their whole tensor first (ModelHandle.tensor).
  importOptions.readOptions.verifyOnFirstUse = true
  if let name = given.hidden_activation.map({ String(cString: $0) }) {
    guard let f = HiddenActivation(name: name) else {
      throw CallError.invalid("unknown hidden activation \"\(name)\"")
    }
    importOptions.hiddenActivation = f
  }
  if let name = given.output_activation.map({ String(cString: $0) }) {
    guard let g = OutputActivation(name: name) else {
      throw CallError.invalid("unknown output activation \"\(name)\"")
    }
    importOptions.outputActivation = g
  }
  let policy = IsolationPolicy(isolate: given.isolate != 0, executable: isolatedReaderExecutable())
  return (importOptions, given.format.map { String(cString: $0) }, policy)
}

/// The `rnnkit` executable that serves isolated reads for a C program: `RNNKIT_EXECUTABLE`, or
/// the one installed beside this library (the same folder in a build, `../bin` once installed).
func isolatedReaderExecutable() -> String? {
  if ProcessInfo.processInfo.environment["RNNKIT_EXECUTABLE"]?.isEmpty == false { return nil }
  // /proc files report a size of 0, so read to the end rather than by size.
  guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
  defer { try? handle.close() }
  guard let data = try? handle.readToEnd(), case let maps = String(decoding: data, as: UTF8.self),
    let line = maps.split(separator: "\n").first(where: { $0.hasSuffix("/librnnkit.so") }),
    let slash = line.firstIndex(of: "/")
  else { return nil }
  let folder = URL(fileURLWithPath: String(line[slash...])).deletingLastPathComponent()
  for candidate in [
    folder.appendingPathComponent("rnnkit"),
    folder.deletingLastPathComponent().appendingPathComponent("bin/rnnkit"),
  ] where FileManager.default.isExecutableFile(atPath: candidate.path) {
    return candidate.path
  }
  return nil
}

/// Implements `rnnkit_model_open`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_open")
public func cModelOpen(
  _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<rnnkit_open_options>?,
  _ model: UnsafeMutablePointer<OpaquePointer?>?
) -> rnnkit_status {
  guarded {
    guard let model else { throw CallError.invalid("model is NULL") }
    model.pointee = nil
    let file = try string(path, "path")
    let (importOptions, format, policy) = try reading(options)
    let loaded = try ModelFormats.load(path: file, format: format, options: importOptions, isolation: policy)
    model.pointee = try ModelHandle(model: loaded.model, format: loaded.format.name).opaque
  }
}

/// Implements `rnnkit_model_close`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_close")
public func cModelClose(_ model: OpaquePointer?) {
  guard let model else { return }
  Unmanaged<ModelHandle>.fromOpaque(UnsafeRawPointer(model)).release()
}

/// Implements `rnnkit_model_hidden_size`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_hidden_size")
public func cHiddenSize(_ model: OpaquePointer?) -> Int64 {
  Int64(ModelHandle.from(model)?.model.hiddenSize ?? 0)
}

/// Implements `rnnkit_model_input_size`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_input_size")
public func cInputSize(_ model: OpaquePointer?) -> Int64 {
  Int64(ModelHandle.from(model)?.model.inputSize ?? 0)
}

/// Implements `rnnkit_model_output_size`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_output_size")
public func cOutputSize(_ model: OpaquePointer?) -> Int64 {
  Int64(ModelHandle.from(model)?.model.outputSize ?? 0)
}

/// Implements `rnnkit_model_takes_tokens`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_takes_tokens")
public func cTakesTokens(_ model: OpaquePointer?) -> Int32 {
  ModelHandle.from(model)?.model.inputKind == .tokens ? 1 : 0
}

/// Implements `rnnkit_model_hidden_activation`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_hidden_activation")
public func cHiddenActivation(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
  ModelHandle.from(model).map { UnsafePointer($0.hiddenActivation) }
}

/// Implements `rnnkit_model_output_activation`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_output_activation")
public func cOutputActivation(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
  ModelHandle.from(model).map { UnsafePointer($0.outputActivation) }
}

/// Implements `rnnkit_model_format`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_format")
public func cFormat(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
  ModelHandle.from(model).map { UnsafePointer($0.formatName) }
}

/// Implements `rnnkit_model_metadata_count`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_metadata_count")
public func cMetadataCount(_ model: OpaquePointer?) -> Int { ModelHandle.from(model)?.metadata.count ?? 0 }

/// Implements `rnnkit_model_metadata`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_metadata")
public func cMetadata(
  _ model: OpaquePointer?, _ index: Int, _ key: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
  _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> rnnkit_status {
  guarded {
    guard let handle = ModelHandle.from(model) else { throw CallError.invalid("model is NULL") }
    guard index >= 0, index < handle.metadata.count else {
      throw CallError.invalid("metadata index \(index) is not below \(handle.metadata.count)")
    }
    key?.pointee = UnsafePointer(handle.metadata[index].key)
    value?.pointee = UnsafePointer(handle.metadata[index].value)
  }
}

/// Implements `rnnkit_model_vocabulary_size`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_vocabulary_size")
public func cVocabularySize(_ model: OpaquePointer?) -> Int64 {
  Int64(ModelHandle.from(model)?.model.vocabulary?.count ?? 0)
}

/// Implements `rnnkit_model_token`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_token")
public func cToken(
  _ model: OpaquePointer?, _ id: Int64, _ token: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> rnnkit_status {
  guarded {
    guard let handle = ModelHandle.from(model), let token else {
      throw CallError.invalid("model or token is NULL")
    }
    guard let text = handle.token(Int(id)) else {
      throw CallError.invalid(
        "id \(id) is outside the vocabulary of \(handle.model.vocabulary?.count ?? 0) tokens")
    }
    token.pointee = text
  }
}

/// Implements `rnnkit_model_token_id`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_token_id")
public func cTokenID(_ model: OpaquePointer?, _ token: UnsafePointer<CChar>?) -> Int64 {
  guard let handle = ModelHandle.from(model), let token, let vocabulary = handle.model.vocabulary,
    let id = vocabulary.id(of: String(cString: token))
  else { return -1 }
  return Int64(id)
}

/// Implements `rnnkit_model_tensor`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_tensor")
public func cTensor(
  _ model: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ view: UnsafeMutablePointer<rnnkit_tensor_view>?
) -> rnnkit_status {
  guarded {
    guard let handle = ModelHandle.from(model), let view else {
      throw CallError.invalid("model or view is NULL")
    }
    let tensorName = try string(name, "name")
    guard let found = try handle.tensor(tensorName) else {
      throw CallError.invalid("no tensor \"\(tensorName)\"; the tensors are W, b, V and c")
    }
    view.pointee = found
  }
}

/// Implements `rnnkit_model_score_text`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_model_score_text")
public func cScoreText(
  _ model: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ crossEntropy: UnsafeMutablePointer<Double>?,
  _ perplexity: UnsafeMutablePointer<Double>?, _ predicted: UnsafeMutablePointer<Int64>?
) -> rnnkit_status {
  guarded {
    guard let handle = ModelHandle.from(model) else { throw CallError.invalid("model is NULL") }
    let scored = try handle.runtime.score(text: try string(text, "text"))
    crossEntropy?.pointee = scored.result.crossEntropy
    perplexity?.pointee = scored.result.perplexity
    predicted?.pointee = Int64(scored.result.predictedTokens)
  }
}

/// Implements `rnnkit_convert_options_init`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_convert_options_init")
public func cConvertOptionsInit(_ options: UnsafeMutablePointer<rnnkit_convert_options>?) {
  guard let options else { return }
  var input = rnnkit_open_options()
  cOpenOptionsInit(&input)
  options.pointee = rnnkit_convert_options(
    input: input, output_format: nil, dtype: nil, overwrite: 0, verify: 1)
}

/// Implements `rnnkit_convert`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_convert")
public func cConvert(
  _ input: UnsafePointer<CChar>?, _ output: UnsafePointer<CChar>?,
  _ options: UnsafePointer<rnnkit_convert_options>?
) -> rnnkit_status {
  guarded {
    var defaults = rnnkit_convert_options()
    cConvertOptionsInit(&defaults)
    var given = options?.pointee ?? defaults
    let (importOptions, format, policy) = try reading(&given.input)
    var dtype: DType?
    if let name = given.dtype.map({ String(cString: $0) }) {
      guard let value = DType(name: name), value.isFloatingPoint else {
        throw CallError.invalid("unknown dtype \"\(name)\"")
      }
      dtype = value
    }
    _ = try ModelConversion.convert(
      input: try string(input, "input"), output: try string(output, "output"),
      options: ConversionOptions(
        inputFormat: format, outputFormat: given.output_format.map { String(cString: $0) },
        importOptions: importOptions, dtype: dtype, overwrite: given.overwrite != 0,
        verify: given.verify != 0,
        isolation: policy))
  }
}
