"""Read pickled dicts of numpy arrays without executing arbitrary code.

Some dataset formats are pickles (CIFAR's python batches, CIFAR-N's label files).  A plain
``pickle.load`` would run whatever callables the file names; this unpickler only lets numpy
rebuild arrays and dtypes, so a malicious file fails to load instead of running code.
"""
from __future__ import annotations

import pickle

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),    # protocol 5
    ("_codecs", "encode"),     # how Python 3 pickles bytes for protocol 2
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def load(fh, encoding: str = "bytes"):
    """``pickle.load`` restricted to builtins and numpy arrays.  ``encoding='bytes'`` reads
    Python 2 pickles (CIFAR) with bytes keys."""
    return _NumpyOnlyUnpickler(fh, encoding=encoding).load()

