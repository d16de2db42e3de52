"""ctypes declarations of include/rnnkit.h and the Python classes built on them."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from typing import Optional

import numpy as np

_c_int64_p = ctypes.POINTER(ctypes.c_int64)
_c_float_p = ctypes.POINTER(ctypes.c_float)


class _OpenOptions(ctypes.Structure):
    _fields_ = [
        ("verify_checksums", ctypes.c_int),
        ("isolate", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("vocabulary_path", ctypes.c_char_p),
        ("hidden_activation", ctypes.c_char_p),
        ("output_activation", ctypes.c_char_p),
    ]


class _TensorView(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 8),
    ]


class _GenerateOptions(ctypes.Structure):
    _fields_ = [
        ("max_tokens", ctypes.c_size_t),
        ("temperature", ctypes.c_double),
        ("top_k", ctypes.c_size_t),
        ("seed", ctypes.c_uint64),
    ]


class _ConvertOptions(ctypes.Structure):
    _fields_ = [
        ("input", _OpenOptions),
        ("output_format", ctypes.c_char_p),
        ("dtype", ctypes.c_char_p),
        ("overwrite", ctypes.c_int),
        ("verify", ctypes.c_int),
    ]


def _find_library() -> str:
    explicit = os.environ.get("RNNKIT_LIBRARY")
    if explicit:
        return explicit
    try:
        libdir = subprocess.run(
            ["pkg-config", "--variable=libdir", "rnnkit"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidate = os.path.join(libdir, "librnnkit.so")
        if os.path.exists(candidate):
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    found = ctypes.util.find_library("rnnkit")
    if found is None:
        raise ImportError("librnnkit.so not found: set RNNKIT_LIBRARY or install with scripts/install.sh")
    return found


_lib = ctypes.CDLL(_find_library())


def _declare(name, restype, *argtypes):
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_P = ctypes.c_void_p
_version = _declare("rnnkit_version", ctypes.c_char_p)
_last_error = _declare("rnnkit_last_error", ctypes.c_char_p)
_string_free = _declare("rnnkit_string_free", None, ctypes.c_void_p)
_open_options_init = _declare("rnnkit_open_options_init", None, ctypes.POINTER(_OpenOptions))
_model_open = _declare(
    "rnnkit_model_open", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_OpenOptions), ctypes.POINTER(_P)
)
_model_close = _declare("rnnkit_model_close", None, _P)
_hidden_size = _declare("rnnkit_model_hidden_size", ctypes.c_int64, _P)
_input_size = _declare("rnnkit_model_input_size", ctypes.c_int64, _P)
_output_size = _declare("rnnkit_model_output_size", ctypes.c_int64, _P)
_takes_tokens = _declare("rnnkit_model_takes_tokens", ctypes.c_int, _P)
_hidden_activation = _declare("rnnkit_model_hidden_activation", ctypes.c_char_p, _P)
_output_activation = _declare("rnnkit_model_output_activation", ctypes.c_char_p, _P)
_format = _declare("rnnkit_model_format", ctypes.c_char_p, _P)
_metadata_count = _declare("rnnkit_model_metadata_count", ctypes.c_size_t, _P)
_metadata = _declare(
    "rnnkit_model_metadata",
    ctypes.c_int,
    _P,
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_char_p),
    ctypes.POINTER(ctypes.c_char_p),
)
_vocabulary_size = _declare("rnnkit_model_vocabulary_size", ctypes.c_int64, _P)
_token = _declare("rnnkit_model_token", ctypes.c_int, _P, ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p))
_token_id = _declare("rnnkit_model_token_id", ctypes.c_int64, _P, ctypes.c_char_p)
_tensor = _declare("rnnkit_model_tensor", ctypes.c_int, _P, ctypes.c_char_p, ctypes.POINTER(_TensorView))
_session_create = _declare("rnnkit_session_create", ctypes.c_int, _P, ctypes.POINTER(_P))
_session_free = _declare("rnnkit_session_free", None, _P)
_forward_tokens = _declare(
    "rnnkit_session_forward_tokens", ctypes.c_int, _P, _c_int64_p, ctypes.c_size_t, _c_float_p, _c_float_p
)
_step_vector = _declare("rnnkit_session_step_vector", ctypes.c_int, _P, _c_float_p, _c_float_p)
_session_hidden = _declare("rnnkit_session_hidden", ctypes.c_int, _P, _c_float_p)
_predict = _declare(
    "rnnkit_session_predict",
    ctypes.c_int,
    _P,
    ctypes.c_char_p,
    ctypes.c_size_t,
    _c_int64_p,
    _c_float_p,
    ctypes.POINTER(ctypes.c_size_t),
)
_generate_options_init = _declare("rnnkit_generate_options_init", None, ctypes.POINTER(_GenerateOptions))
_generate = _declare(
    "rnnkit_session_generate",
    ctypes.c_int,
    _P,
    ctypes.c_char_p,
    ctypes.POINTER(_GenerateOptions),
    ctypes.POINTER(ctypes.c_void_p),
)
_score_text = _declare(
    "rnnkit_model_score_text",
    ctypes.c_int,
    _P,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_double),
    ctypes.POINTER(ctypes.c_double),
    _c_int64_p,
)
_convert_options_init = _declare("rnnkit_convert_options_init", None, ctypes.POINTER(_ConvertOptions))
_convert = _declare("rnnkit_convert", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_ConvertOptions))

_NUMPY_DTYPES = {0: np.float32, 1: np.float16, 3: np.float64}
_BF16 = 2


class RNNKitError(Exception):
    """An error from librnnkit: `status` is the rnnkit_status code, the message its one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _check(status: int) -> None:
    if status != 0:
        raise RNNKitError(status, _last_error().decode("utf-8", "replace"))


def _encode(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else os.fsencode(text) if isinstance(text, os.PathLike) else text.encode("utf-8")


def library_version() -> str:
    """The version of the loaded librnnkit."""
    return _version().decode()


def _open_options(format, vocab, hidden_activation, output_activation, verify, isolate) -> _OpenOptions:
    options = _OpenOptions()
    _open_options_init(ctypes.byref(options))
    options.verify_checksums = int(verify)
    options.isolate = int(isolate)
    options.format = _encode(format)
    options.vocabulary_path = _encode(None if vocab is None else os.fspath(vocab))
    options.hidden_activation = _encode(hidden_activation)
    options.output_activation = _encode(output_activation)
    return options


class _Session:
    def __init__(self, model: "Model"):
        self._handle = _P()
        _check(_session_create(model._handle, ctypes.byref(self._handle)))

    def __enter__(self):
        return self._handle

    def __exit__(self, *exc):
        _session_free(self._handle)


class Model:
    """An open model. Immutable: it may be shared between threads."""

    def __init__(self, handle: ctypes.c_void_p):
        self._handle = handle

    @classmethod
    def open(
        cls,
        path,
        *,
        format: Optional[str] = None,
        vocab=None,
        hidden_activation: Optional[str] = None,
        output_activation: Optional[str] = None,
        verify: bool = True,
        isolate: bool = True,
    ) -> "Model":
        """Opens a model of any format RNNKit reads; C-library formats are read in isolation."""
        options = _open_options(format, vocab, hidden_activation, output_activation, verify, isolate)
        handle = _P()
        _check(_model_open(_encode(os.fspath(path)), ctypes.byref(options), ctypes.byref(handle)))
        return cls(handle)

    def close(self) -> None:
        if self._handle:
            _model_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    @property
    def hidden_size(self) -> int:
        return _hidden_size(self._handle)

    @property
    def input_size(self) -> int:
        return _input_size(self._handle)

    @property
    def output_size(self) -> int:
        return _output_size(self._handle)

    @property
    def takes_tokens(self) -> bool:
        return bool(_takes_tokens(self._handle))

    @property
    def hidden_activation(self) -> str:
        return _hidden_activation(self._handle).decode()

    @property
    def output_activation(self) -> str:
        return _output_activation(self._handle).decode()

    @property
    def format(self) -> str:
        return _format(self._handle).decode()

    @property
    def metadata(self) -> dict:
        entries = {}
        for index in range(_metadata_count(self._handle)):
            key, value = ctypes.c_char_p(), ctypes.c_char_p()
            _check(_metadata(self._handle, index, ctypes.byref(key), ctypes.byref(value)))
            entries[key.value.decode()] = value.value.decode()
        return entries

    @property
    def vocabulary(self) -> list:
        return [self.token(i) for i in range(_vocabulary_size(self._handle))]

    def token(self, id: int) -> str:
        text = ctypes.c_char_p()
        _check(_token(self._handle, id, ctypes.byref(text)))
        return text.value.decode("utf-8")

    def id(self, token: str) -> Optional[int]:
        found = _token_id(self._handle, token.encode("utf-8"))
        return None if found < 0 else found

    def tensor(self, name: str) -> np.ndarray:
        """W, b, V or c as a read-only numpy array sharing the model's memory (for .rnn files, the
        mapped file). bf16 tensors, which numpy cannot hold, come back as a float32 copy."""
        view = _TensorView()
        _check(_tensor(self._handle, name.encode(), ctypes.byref(view)))
        shape = tuple(view.shape[i] for i in range(view.rank))
        count = int(np.prod(shape)) if shape else 1
        if view.dtype == _BF16:
            raw = np.ctypeslib.as_array(ctypes.cast(view.data, ctypes.POINTER(ctypes.c_uint16)), shape=(count,))
            return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)
        dtype = np.dtype(_NUMPY_DTYPES[view.dtype])
        buffer = (ctypes.c_char * (count * dtype.itemsize)).from_address(view.data)
        # The array's base is the buffer, and the buffer holds the model: the memory stays
        # mapped for as long as the array lives.
        buffer.model = self
        array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
        array.flags.writeable = False
        return array

    def forward(self, inputs):
        """Runs a sequence from h_0 = 0: token ids (token models) or a [T, X] array (dense
        models). Returns (hidden [T, H], outputs [T, O]) as float32 arrays."""
        H, O = self.hidden_size, self.output_size
        with _Session(self) as session:
            if self.takes_tokens:
                ids = np.ascontiguousarray(np.asarray(inputs, dtype=np.int64))
                T = ids.shape[0]
                hidden = np.zeros((T, H), dtype=np.float32)
                outputs = np.zeros((T, O), dtype=np.float32)
                _check(
                    _forward_tokens(
                        session,
                        ids.ctypes.data_as(_c_int64_p),
                        T,
                        outputs.ctypes.data_as(_c_float_p),
                        hidden.ctypes.data_as(_c_float_p),
                    )
                )
                return hidden, outputs
            vectors = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
            T = vectors.shape[0]
            hidden = np.zeros((T, H), dtype=np.float32)
            outputs = np.zeros((T, O), dtype=np.float32)
            for t in range(T):
                _check(_step_vector(session, vectors[t].ctypes.data_as(_c_float_p), outputs[t].ctypes.data_as(_c_float_p)))
                _check(_session_hidden(session, hidden[t].ctypes.data_as(_c_float_p)))
            return hidden, outputs

    def predict(self, text: str, k: int = 5) -> list:
        """The k most likely next tokens after `text`, best first, as (token, probability)."""
        ids = (ctypes.c_int64 * k)()
        probabilities = (ctypes.c_float * k)()
        written = ctypes.c_size_t()
        with _Session(self) as session:
            _check(_predict(session, text.encode("utf-8"), k, ids, probabilities, ctypes.byref(written)))
        return [(self.token(ids[i]), float(probabilities[i])) for i in range(written.value)]

    def generate(self, prompt: str, max_tokens: int = 20, temperature: float = 0.0, top_k: int = 0, seed: int = 0) -> str:
        """Continues `prompt`; greedy at temperature 0, seeded sampling otherwise."""
        options = _GenerateOptions()
        _generate_options_init(ctypes.byref(options))
        options.max_tokens, options.temperature, options.top_k, options.seed = max_tokens, temperature, top_k, seed
        text = ctypes.c_void_p()
        with _Session(self) as session:
            _check(_generate(session, prompt.encode("utf-8"), ctypes.byref(options), ctypes.byref(text)))
        try:
            return ctypes.string_at(text.value).decode("utf-8")
        finally:
            _string_free(text)

    def score(self, text: str) -> dict:
        """Cross-entropy (nats per predicted token), perplexity and the number of predicted
        tokens, each line scored from h_0 = 0."""
        cross_entropy, perplexity, predicted = ctypes.c_double(), ctypes.c_double(), ctypes.c_int64()
        _check(
            _score_text(
                self._handle,
                text.encode("utf-8"),
                ctypes.byref(cross_entropy),
                ctypes.byref(perplexity),
                ctypes.byref(predicted),
            )
        )
        return {"cross_entropy": cross_entropy.value, "perplexity": perplexity.value, "predicted": predicted.value}


def convert(input, output, *, format=None, to=None, dtype=None, overwrite=False, verify=True, vocab=None,
            hidden_activation=None, output_activation=None, isolate=True) -> None:
    """Converts `input` to `output` atomically, checked by a forward pass unless verify is False."""
    options = _ConvertOptions()
    _convert_options_init(ctypes.byref(options))
    options.input = _open_options(format, vocab, hidden_activation, output_activation, True, isolate)
    options.output_format = _encode(to)
    options.dtype = _encode(dtype)
    options.overwrite = int(overwrite)
    options.verify = int(verify)
    _check(_convert(_encode(os.fspath(input)), _encode(os.fspath(output)), ctypes.byref(options)))
