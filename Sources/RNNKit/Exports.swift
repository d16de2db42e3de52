@_exported import RNNFileFormats
@_exported import RNNFormat
@_exported import RNNHDF5
@_exported import RNNModel
@_exported import RNNRuntime
@_exported import RNNTraining
