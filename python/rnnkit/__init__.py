"""Python bindings for RNNKit over its C interface (librnnkit.so, include/rnnkit.h), with ctypes.

    import rnnkit
    with rnnkit.Model.open("cuisine.rnn") as model:
        print(model.predict("My favourite dish is sushi. So, my favourite cuisine is", k=3))
        W = model.tensor("W")          # a read-only numpy view of the mapped weights

The library is found through $RNNKIT_LIBRARY, then `pkg-config --variable=libdir rnnkit`, then
the system's library path. A model may be shared between threads; each call that runs the model
uses a session of its own.
"""

from ._binding import Model, RNNKitError, convert, library_version

__all__ = ["Model", "RNNKitError", "convert", "library_version"]
