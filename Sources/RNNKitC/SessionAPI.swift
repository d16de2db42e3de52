import CRNNKitABI
import Foundation
import RNNKit

/// Implements `rnnkit_session_create`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_create")
public func cSessionCreate(_ model: OpaquePointer?, _ session: UnsafeMutablePointer<OpaquePointer?>?)
  -> rnnkit_status
{
  guarded {
    guard let handle = ModelHandle.from(model), let session else {
      throw CallError.invalid("model or session is NULL")
    }
    session.pointee = SessionHandle(owner: handle).opaque
  }
}

/// Implements `rnnkit_session_free`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_free")
public func cSessionFree(_ session: OpaquePointer?) {
  guard let session else { return }
  Unmanaged<SessionHandle>.fromOpaque(UnsafeRawPointer(session)).release()
}

/// Implements `rnnkit_session_reset`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_reset")
public func cSessionReset(_ session: OpaquePointer?) { SessionHandle.from(session)?.session.reset() }

/// Copies `values` to `destination` when it is not NULL.
private func copy(_ values: [Float], to destination: UnsafeMutablePointer<Float>?) {
  guard let destination else { return }
  values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
}

/// Implements `rnnkit_session_step_token`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_step_token")
public func cStepToken(_ session: OpaquePointer?, _ id: Int64, _ output: UnsafeMutablePointer<Float>?)
  -> rnnkit_status
{
  guarded {
    guard let handle = SessionHandle.from(session) else { throw CallError.invalid("session is NULL") }
    if output == nil {
      try handle.session.advance(token: Int(id))
    } else {
      copy(try handle.session.feed(token: Int(id)), to: output)
    }
  }
}

/// Implements `rnnkit_session_step_vector`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_step_vector")
public func cStepVector(
  _ session: OpaquePointer?, _ input: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>?
) -> rnnkit_status {
  guarded {
    guard let handle = SessionHandle.from(session), let input else {
      throw CallError.invalid("session or input is NULL")
    }
    let vector = Array(UnsafeBufferPointer(start: input, count: handle.owner.model.inputSize))
    copy(try handle.session.feed(vector: vector), to: output)
  }
}

/// Implements `rnnkit_session_hidden`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_hidden")
public func cSessionHidden(_ session: OpaquePointer?, _ hidden: UnsafeMutablePointer<Float>?) -> rnnkit_status
{
  guarded {
    guard let handle = SessionHandle.from(session), let hidden else {
      throw CallError.invalid("session or hidden is NULL")
    }
    copy(handle.session.hidden, to: hidden)
  }
}

/// Implements `rnnkit_session_forward_tokens`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_forward_tokens")
public func cForwardTokens(
  _ session: OpaquePointer?, _ ids: UnsafePointer<Int64>?, _ count: Int,
  _ outputs: UnsafeMutablePointer<Float>?,
  _ hidden: UnsafeMutablePointer<Float>?
) -> rnnkit_status {
  guarded {
    guard let handle = SessionHandle.from(session) else { throw CallError.invalid("session is NULL") }
    guard count == 0 || ids != nil else { throw CallError.invalid("ids is NULL") }
    let o = handle.owner.model.outputSize
    let h = handle.owner.model.hiddenSize
    for step in 0..<count {
      let id = Int(ids![step])
      if let outputs {
        copy(try handle.session.feed(token: id), to: outputs + step * o)
      } else {
        try handle.session.advance(token: id)
      }
      if let hidden { copy(handle.session.hidden, to: hidden + step * h) }
    }
  }
}

/// Implements `rnnkit_session_predict`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_predict")
public func cPredict(
  _ session: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ k: Int, _ ids: UnsafeMutablePointer<Int64>?,
  _ probabilities: UnsafeMutablePointer<Float>?, _ written: UnsafeMutablePointer<Int>?
) -> rnnkit_status {
  guarded {
    guard let handle = SessionHandle.from(session) else { throw CallError.invalid("session is NULL") }
    guard k >= 1 else { throw CallError.invalid("k must be at least 1") }
    let runtime = handle.owner.runtime
    let tokens = try runtime.encode(try string(text, "text"))
    let best = try runtime.predictNext(tokens: tokens, topK: k)
    for (index, entry) in best.enumerated() {
      ids?[index] = Int64(entry.id)
      probabilities?[index] = entry.probability
    }
    written?.pointee = best.count
    handle.session.reset()
    try handle.session.advance(tokens: tokens)
  }
}

/// Implements `rnnkit_generate_options_init`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_generate_options_init")
public func cGenerateOptionsInit(_ options: UnsafeMutablePointer<rnnkit_generate_options>?) {
  options?.pointee = rnnkit_generate_options(max_tokens: 20, temperature: 0, top_k: 0, seed: 0)
}

/// Implements `rnnkit_session_generate`; see include/rnnkit.h for the contract.
@_cdecl("rnnkit_session_generate")
public func cGenerate(
  _ session: OpaquePointer?, _ prompt: UnsafePointer<CChar>?,
  _ options: UnsafePointer<rnnkit_generate_options>?,
  _ text: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> rnnkit_status {
  guarded {
    guard let handle = SessionHandle.from(session), let text else {
      throw CallError.invalid("session or text is NULL")
    }
    text.pointee = nil
    var defaults = rnnkit_generate_options()
    cGenerateOptionsInit(&defaults)
    let given = options?.pointee ?? defaults
    let runtime = handle.owner.runtime
    let tokens = try runtime.encode(try string(prompt, "prompt"))
    let generated = try runtime.generate(
      prompt: tokens,
      options: GenerationOptions(
        maxTokens: given.max_tokens, temperature: given.temperature,
        topK: given.top_k == 0 ? nil : given.top_k, seed: given.seed))
    handle.session.reset()
    try handle.session.advance(tokens: tokens + generated)
    text.pointee = strdup(try runtime.decode(generated))
  }
}
