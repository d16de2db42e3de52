import RNNFormat

/// Caps on what an ONNX file may declare, checked while decoding so a hostile file cannot make the
/// reader allocate far more than the file holds or recurse without bound.
struct ONNXLimits: Sendable {
  /// Protobuf's own limit on a serialized message (2 GiB − 1).
  var maxFileBytes = Int(Int32.max)
  /// Graphs nested inside node attributes (Scan, Loop, If bodies), counting the main graph.
  var maxGraphNesting = 4
  /// Nodes, initializers, inputs or outputs in one graph.
  var maxGraphEntries = 65_536
  /// Inputs, outputs or attributes of one node.
  var maxNodeEntries = 1_024
  /// Dimensions of a tensor or a shape.
  var maxRank = 8
  /// Numbers in a repeated numeric field of a tensor.
  var maxTensorValues = 1 << 28
  /// Numbers or strings in a repeated attribute field.
  var maxAttributeValues = 1 << 20
  /// Bytes of a name, type or key.
  var maxNameBytes = 4_096
  /// Bytes of a string value (documentation, metadata values such as the vocabulary).
  var maxStringBytes = 64 << 20
  /// Entries of `metadata_props` or `opset_import`.
  var maxModelEntries = 4_096
  /// Graphs, nodes, attributes, tensors and value infos in the whole model, subgraphs included, so
  /// the memory decoded messages take stays bounded whatever the nesting.
  var maxMessages = 1_000_000
}

/// Counts one decoded message against the model-wide budget.
func spend(_ budget: inout Int, _ part: String) throws(ProtobufError) {
  budget -= 1
  guard budget >= 0 else {
    throw ProtobufError(part: part, reason: "the model holds more than \(ONNXLimits().maxMessages) messages")
  }
}

/// ONNX tensor element types RNNKit reads or writes (TensorProto.DataType).
enum ONNXDataType: Int32 {
  case float = 1
  case uint8 = 2
  case int8 = 3
  case int32 = 6
  case int64 = 7
  case bool = 9
  case float16 = 10
  case double = 11
  case bfloat16 = 16
}

/// TensorProto: a constant tensor.
struct ONNXTensor: Sendable {
  var name = ""
  var dims: [Int64] = []
  var dataType: Int32 = 0
  var rawData: [UInt8]?
  var floatData: [Float] = []
  /// int32_data (and the 16- and 8-bit types, which protobuf stores there) as sign-extended varints.
  var int32Data: [Int64] = []
  var int64Data: [Int64] = []
  var doubleData: [Double] = []
  /// data_location is EXTERNAL or external_data entries are present.
  var isExternal = false
  var hasSegment = false
}

/// One dimension of a declared shape.
enum ONNXDimension: Sendable, Equatable {
  case value(Int64)
  case parameter(String)
  case unknown
}

/// ValueInfoProto with a tensor type: a graph input or output.
struct ONNXValueInfo: Sendable {
  var name = ""
  /// The tensor element type; nil when the type is not a tensor or absent.
  var elementType: Int32?
  /// The declared shape; nil when absent.
  var shape: [ONNXDimension]?
}

/// AttributeProto.
struct ONNXAttribute: Sendable {
  enum Kind: Int64 {
    case undefined = 0
    case float = 1
    case int = 2
    case string = 3
    case tensor = 4
    case graph = 5
    case floats = 6
    case ints = 7
    case strings = 8
    case tensors = 9
    case graphs = 10
  }
  var name = ""
  var type: Int64 = 0
  var f: Float?
  var i: Int64?
  var s: [UInt8]?
  var t: ONNXTensor?
  var floats: [Float] = []
  var ints: [Int64] = []
  var strings: [[UInt8]] = []
  var tensors: [ONNXTensor] = []
  /// `g` (for GRAPH) or `graphs` (for GRAPHS).
  var graphs: [ONNXGraph] = []
}

/// NodeProto.
struct ONNXNode: Sendable {
  var inputs: [String] = []
  var outputs: [String] = []
  var name = ""
  var opType = ""
  var domain = ""
  var attributes: [ONNXAttribute] = []

  func attribute(_ name: String) -> ONNXAttribute? { attributes.first { $0.name == name } }
}

/// GraphProto.
struct ONNXGraph: Sendable {
  var name = ""
  var nodes: [ONNXNode] = []
  var initializers: [ONNXTensor] = []
  var inputs: [ONNXValueInfo] = []
  var outputs: [ONNXValueInfo] = []
  /// sparse_initializer entries are skipped; their count is kept so errors can say so.
  var sparseInitializerCount = 0
}

/// ModelProto.
struct ONNXModel: Sendable {
  var irVersion: Int64 = 0
  var opsets: [(domain: String, version: Int64)] = []
  var producerName = ""
  var producerVersion = ""
  var graph = ONNXGraph()
  var metadata: [(key: String, value: String)] = []
  /// Model-local functions (field 25) are skipped; their presence is kept so errors can say so.
  var hasFunctions = false
}

// MARK: Decoding

extension ONNXModel {
  /// Decodes a serialized ModelProto.
  init(decoding bytes: UnsafeRawBufferPointer, limits: ONNXLimits) throws(ProtobufError) {
    guard bytes.count <= limits.maxFileBytes else {
      throw ProtobufError(part: "model", reason: "\(bytes.count) bytes is over protobuf's 2 GiB limit")
    }
    var reader = ProtobufReader(bytes, part: "model")
    var budget = limits.maxMessages
    var sawGraph = false
    while let (field, wire) = try reader.field() {
      switch (field, wire) {
      case (1, .varint): irVersion = try reader.int64()
      case (2, .lengthDelimited): producerName = try reader.string(limit: limits.maxStringBytes, field: field)
      case (3, .lengthDelimited):
        producerVersion = try reader.string(limit: limits.maxStringBytes, field: field)
      case (7, .lengthDelimited):
        guard !sawGraph else { throw reader.fail("has two graphs", field: field) }
        sawGraph = true
        graph = try ONNXGraph(
          decoding: reader.bytes(limit: Int.max, field: field), part: "graph", depth: 1, limits: limits,
          budget: &budget)
      case (8, .lengthDelimited):
        guard opsets.count < limits.maxModelEntries else {
          throw reader.fail("has more than \(limits.maxModelEntries) opset_import entries", field: field)
        }
        var entry = ProtobufReader(
          try reader.bytes(limit: Int.max, field: field), part: "opset_import[\(opsets.count)]")
        var domain = ""
        var version: Int64 = 0
        while let (f, w) = try entry.field() {
          switch (f, w) {
          case (1, .lengthDelimited): domain = try entry.string(limit: limits.maxNameBytes, field: f)
          case (2, .varint): version = try entry.int64()
          default: try entry.skip(w, field: f)
          }
        }
        opsets.append((domain, version))
      case (14, .lengthDelimited):
        guard metadata.count < limits.maxModelEntries else {
          throw reader.fail("has more than \(limits.maxModelEntries) metadata_props entries", field: field)
        }
        var entry = ProtobufReader(
          try reader.bytes(limit: Int.max, field: field), part: "metadata_props[\(metadata.count)]")
        var key = ""
        var value = ""
        while let (f, w) = try entry.field() {
          switch (f, w) {
          case (1, .lengthDelimited): key = try entry.string(limit: limits.maxNameBytes, field: f)
          case (2, .lengthDelimited): value = try entry.string(limit: limits.maxStringBytes, field: f)
          default: try entry.skip(w, field: f)
          }
        }
        metadata.append((key, value))
      case (25, .lengthDelimited):
        hasFunctions = true
        try reader.skip(wire, field: field)
      case (1, _), (2, _), (3, _), (7, _), (8, _), (14, _):
        throw reader.fail("has wire type \(wire.rawValue)", field: field)
      default: try reader.skip(wire, field: field)
      }
    }
  }
}

extension ONNXGraph {
  init(
    decoding bytes: UnsafeRawBufferPointer, part: String, depth: Int, limits: ONNXLimits, budget: inout Int
  )
    throws(ProtobufError)
  {
    try spend(&budget, part)
    guard depth <= limits.maxGraphNesting else {
      throw ProtobufError(part: part, reason: "graphs nest deeper than \(limits.maxGraphNesting) levels")
    }
    var reader = ProtobufReader(bytes, part: part)
    func check(_ count: Int, _ what: String, field: Int) throws(ProtobufError) {
      guard count < limits.maxGraphEntries else {
        throw reader.fail("has more than \(limits.maxGraphEntries) \(what)", field: field)
      }
    }
    while let (field, wire) = try reader.field() {
      switch (field, wire) {
      case (1, .lengthDelimited):
        try check(nodes.count, "nodes", field: field)
        nodes.append(
          try ONNXNode(
            decoding: reader.bytes(limit: Int.max, field: field), part: "\(part).node[\(nodes.count)]",
            depth: depth, limits: limits, budget: &budget))
      case (2, .lengthDelimited): name = try reader.string(limit: limits.maxStringBytes, field: field)
      case (5, .lengthDelimited):
        try check(initializers.count, "initializers", field: field)
        initializers.append(
          try ONNXTensor(
            decoding: reader.bytes(limit: Int.max, field: field),
            part: "\(part).initializer[\(initializers.count)]", limits: limits, budget: &budget))
      case (11, .lengthDelimited):
        try check(inputs.count, "inputs", field: field)
        inputs.append(
          try ONNXValueInfo(
            decoding: reader.bytes(limit: Int.max, field: field), part: "\(part).input[\(inputs.count)]",
            limits: limits, budget: &budget))
      case (12, .lengthDelimited):
        try check(outputs.count, "outputs", field: field)
        outputs.append(
          try ONNXValueInfo(
            decoding: reader.bytes(limit: Int.max, field: field), part: "\(part).output[\(outputs.count)]",
            limits: limits, budget: &budget))
      case (15, .lengthDelimited):
        sparseInitializerCount += 1
        try reader.skip(wire, field: field)
      case (1, _), (2, _), (5, _), (11, _), (12, _):
        throw reader.fail("has wire type \(wire.rawValue)", field: field)
      default: try reader.skip(wire, field: field)
      }
    }
  }
}

extension ONNXNode {
  init(
    decoding bytes: UnsafeRawBufferPointer, part: String, depth: Int, limits: ONNXLimits, budget: inout Int
  )
    throws(ProtobufError)
  {
    try spend(&budget, part)
    var reader = ProtobufReader(bytes, part: part)
    while let (field, wire) = try reader.field() {
      switch (field, wire) {
      case (1, .lengthDelimited), (2, .lengthDelimited):
        guard inputs.count + outputs.count < limits.maxNodeEntries else {
          throw reader.fail("has more than \(limits.maxNodeEntries) inputs and outputs", field: field)
        }
        let value = try reader.string(limit: limits.maxNameBytes, field: field)
        if field == 1 { inputs.append(value) } else { outputs.append(value) }
      case (3, .lengthDelimited): name = try reader.string(limit: limits.maxNameBytes, field: field)
      case (4, .lengthDelimited): opType = try reader.string(limit: limits.maxNameBytes, field: field)
      case (7, .lengthDelimited): domain = try reader.string(limit: limits.maxNameBytes, field: field)
      case (5, .lengthDelimited):
        guard attributes.count < limits.maxNodeEntries else {
          throw reader.fail("has more than \(limits.maxNodeEntries) attributes", field: field)
        }
        attributes.append(
          try ONNXAttribute(
            decoding: reader.bytes(limit: Int.max, field: field),
            part: "\(part).attribute[\(attributes.count)]", depth: depth, limits: limits, budget: &budget))
      case (1, _), (2, _), (3, _), (4, _), (5, _), (7, _):
        throw reader.fail("has wire type \(wire.rawValue)", field: field)
      default: try reader.skip(wire, field: field)
      }
    }
  }
}

extension ONNXAttribute {
  init(
    decoding bytes: UnsafeRawBufferPointer, part: String, depth: Int, limits: ONNXLimits, budget: inout Int
  )
    throws(ProtobufError)
  {
    try spend(&budget, part)
    var reader = ProtobufReader(bytes, part: part)
    let cap = limits.maxAttributeValues
    while let (field, wire) = try reader.field() {
      switch (field, wire) {
      case (1, .lengthDelimited): name = try reader.string(limit: limits.maxNameBytes, field: field)
      case (20, .varint): type = try reader.int64()
      case (2, .fixed32): f = Float(bitPattern: try reader.fixed32())
      case (3, .varint): i = try reader.int64()
      case (4, .lengthDelimited): s = Array(try reader.bytes(limit: limits.maxStringBytes, field: field))
      case (5, .lengthDelimited):
        t = try ONNXTensor(
          decoding: reader.bytes(limit: Int.max, field: field), part: "\(part).t", limits: limits,
          budget: &budget)
      case (6, .lengthDelimited), (11, .lengthDelimited):
        guard graphs.count < limits.maxNodeEntries else {
          throw reader.fail("has more than \(limits.maxNodeEntries) graphs", field: field)
        }
        graphs.append(
          try ONNXGraph(
            decoding: reader.bytes(limit: Int.max, field: field), part: "\(part).g[\(graphs.count)]",
            depth: depth + 1, limits: limits, budget: &budget))
      case (7, _): try reader.appendFloats(wire, to: &floats, limit: cap, field: field)
      case (8, _): try reader.appendInt64s(wire, to: &ints, limit: cap, field: field)
      case (9, .lengthDelimited):
        guard strings.count < cap else { throw reader.fail("has more than \(cap) strings", field: field) }
        strings.append(Array(try reader.bytes(limit: limits.maxStringBytes, field: field)))
      case (10, .lengthDelimited):
        guard tensors.count < limits.maxNodeEntries else {
          throw reader.fail("has more than \(limits.maxNodeEntries) tensors", field: field)
        }
        tensors.append(
          try ONNXTensor(
            decoding: reader.bytes(limit: Int.max, field: field), part: "\(part).tensors[\(tensors.count)]",
            limits: limits, budget: &budget))
      case (1, _), (20, _), (2, _), (3, _), (4, _), (5, _), (6, _), (9, _), (10, _), (11, _):
        throw reader.fail("has wire type \(wire.rawValue)", field: field)
      default: try reader.skip(wire, field: field)
      }
    }
  }
}

extension ONNXTensor {
  init(decoding bytes: UnsafeRawBufferPointer, part: String, limits: ONNXLimits, budget: inout Int)
    throws(ProtobufError)
  {
    try spend(&budget, part)
    var reader = ProtobufReader(bytes, part: part)
    let cap = limits.maxTensorValues
    while let (field, wire) = try reader.field() {
      switch (field, wire) {
      case (1, _):
        try reader.appendInt64s(wire, to: &dims, limit: limits.maxRank, field: field)
      case (2, .varint): dataType = Int32(truncatingIfNeeded: try reader.int64())
      case (3, _):
        hasSegment = true
        try reader.skip(wire, field: field)
      case (4, _): try reader.appendFloats(wire, to: &floatData, limit: cap, field: field)
      case (5, _): try reader.appendInt64s(wire, to: &int32Data, limit: cap, field: field)
      case (7, _): try reader.appendInt64s(wire, to: &int64Data, limit: cap, field: field)
      case (10, _): try reader.appendDoubles(wire, to: &doubleData, limit: cap, field: field)
      case (8, .lengthDelimited): name = try reader.string(limit: limits.maxNameBytes, field: field)
      case (9, .lengthDelimited): rawData = Array(try reader.bytes(limit: Int.max, field: field))
      case (13, .lengthDelimited):
        isExternal = true
        try reader.skip(wire, field: field)
      case (14, .varint): if try reader.varint() == 1 { isExternal = true }
      case (2, _), (8, _), (9, _), (13, _), (14, _):
        throw reader.fail("has wire type \(wire.rawValue)", field: field)
      default: try reader.skip(wire, field: field)
      }
    }
  }
}

extension ONNXValueInfo {
  init(decoding bytes: UnsafeRawBufferPointer, part: String, limits: ONNXLimits, budget: inout Int)
    throws(ProtobufError)
  {
    try spend(&budget, part)
    var reader = ProtobufReader(bytes, part: part)
    while let (field, wire) = try reader.field() {
      switch (field, wire) {
      case (1, .lengthDelimited): name = try reader.string(limit: limits.maxNameBytes, field: field)
      case (2, .lengthDelimited):
        // TypeProto: only tensor_type (field 1) is read; sequences, maps and optionals are skipped
        // without recursing into them.
        var type = ProtobufReader(try reader.bytes(limit: Int.max, field: field), part: "\(part).type")
        while let (f, w) = try type.field() {
          guard f == 1, w == .lengthDelimited else {
            try type.skip(w, field: f)
            continue
          }
          var tensor = ProtobufReader(
            try type.bytes(limit: Int.max, field: f), part: "\(part).type.tensor_type")
          while let (tf, tw) = try tensor.field() {
            switch (tf, tw) {
            case (1, .varint): elementType = Int32(truncatingIfNeeded: try tensor.int64())
            case (2, .lengthDelimited):
              var dims: [ONNXDimension] = []
              var shapeReader = ProtobufReader(
                try tensor.bytes(limit: Int.max, field: tf), part: "\(part).type.tensor_type.shape")
              while let (sf, sw) = try shapeReader.field() {
                guard sf == 1, sw == .lengthDelimited else {
                  try shapeReader.skip(sw, field: sf)
                  continue
                }
                guard dims.count < limits.maxRank else {
                  throw shapeReader.fail("has more than \(limits.maxRank) dimensions", field: sf)
                }
                var dimension = ONNXDimension.unknown
                var dimReader = ProtobufReader(
                  try shapeReader.bytes(limit: Int.max, field: sf), part: "\(part).type.tensor_type.shape.dim"
                )
                while let (df, dw) = try dimReader.field() {
                  switch (df, dw) {
                  case (1, .varint): dimension = .value(try dimReader.int64())
                  case (2, .lengthDelimited):
                    dimension = .parameter(try dimReader.string(limit: limits.maxNameBytes, field: df))
                  default: try dimReader.skip(dw, field: df)
                  }
                }
                dims.append(dimension)
              }
              shape = dims
            default: try tensor.skip(tw, field: tf)
            }
          }
        }
      default: try reader.skip(wire, field: field)
      }
    }
  }
}

// MARK: Encoding

extension ONNXModel {
  /// The serialized ModelProto.
  func encoded() -> [UInt8] { encoder().bytes }

  /// The serialized ModelProto in pieces, which share the tensors' raw data instead of copying it.
  func encodedPieces() -> [[UInt8]] { encoder().pieces }

  private func encoder() -> ProtobufWriter {
    var writer = ProtobufWriter()
    writer.int64(1, irVersion)
    if !producerName.isEmpty { writer.string(2, producerName) }
    if !producerVersion.isEmpty { writer.string(3, producerVersion) }
    writer.message(7) { graph.encode(into: &$0) }
    for opset in opsets {
      writer.message(8) {
        if !opset.domain.isEmpty { $0.string(1, opset.domain) }
        $0.int64(2, opset.version)
      }
    }
    for entry in metadata {
      writer.message(14) {
        $0.string(1, entry.key)
        $0.string(2, entry.value)
      }
    }
    return writer
  }
}

extension ONNXGraph {
  func encode(into writer: inout ProtobufWriter) {
    for node in nodes { writer.message(1) { node.encode(into: &$0) } }
    writer.string(2, name)
    for tensor in initializers { writer.message(5) { tensor.encode(into: &$0) } }
    for input in inputs { writer.message(11) { input.encode(into: &$0) } }
    for output in outputs { writer.message(12) { output.encode(into: &$0) } }
  }
}

extension ONNXNode {
  func encode(into writer: inout ProtobufWriter) {
    for input in inputs { writer.string(1, input) }
    for output in outputs { writer.string(2, output) }
    if !name.isEmpty { writer.string(3, name) }
    writer.string(4, opType)
    for attribute in attributes { writer.message(5) { attribute.encode(into: &$0) } }
    if !domain.isEmpty { writer.string(7, domain) }
  }
}

extension ONNXAttribute {
  func encode(into writer: inout ProtobufWriter) {
    writer.string(1, name)
    if let f { writer.float(2, f) }
    if let i { writer.int64(3, i) }
    if let s { writer.bytes(4, s) }
    if let t { writer.message(5) { t.encode(into: &$0) } }
    if type == Kind.graph.rawValue, let g = graphs.first { writer.message(6) { g.encode(into: &$0) } }
    writer.packedFloats(7, floats)
    writer.packedInt64s(8, ints)
    for string in strings { writer.bytes(9, string) }
    writer.int64(20, type)
  }
}

extension ONNXTensor {
  func encode(into writer: inout ProtobufWriter) {
    writer.packedInt64s(1, dims)
    writer.int64(2, Int64(dataType))
    writer.packedFloats(4, floatData)
    writer.packedInt64s(7, int64Data)
    writer.string(8, name)
    if let rawData { writer.bytes(9, rawData) }
  }
}

extension ONNXValueInfo {
  func encode(into writer: inout ProtobufWriter) {
    writer.string(1, name)
    writer.message(2) { type in
      type.message(1) { tensor in
        tensor.int64(1, Int64(elementType ?? 0))
        if let shape {
          tensor.message(2) { shapeWriter in
            for dimension in shape {
              shapeWriter.message(1) { dim in
                switch dimension {
                case .value(let value): dim.int64(1, value)
                case .parameter(let name): dim.string(2, name)
                case .unknown: break
                }
              }
            }
          }
        }
      }
    }
  }
}
