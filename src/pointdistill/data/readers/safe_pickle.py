"""A pickle reader that rebuilds only NumPy arrays, NumPy scalars and plain containers.

The ModelNet ``*_8192pts_fps.dat`` caches and the few-shot ``*.pkl`` folds are pickles downloaded from the
internet. ``pickle.load`` on them would run whatever callable the file names (``os.system``...). Here every
global a pickle asks for is checked against an allow-list of the constructors NumPy itself emits when pickling
arrays (for pickle protocols 0-5, NumPy 1.x and 2.x module paths); anything else raises DataError.
Containers (dict, list, tuple) and numbers are built by pickle opcodes and need no globals.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from pointdistill.data.readers.common import require_file
from pointdistill.errors import DataError

# The constructors are taken from NumPy's own reduce output, so they are right whatever NumPy's module layout.
_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_SCALAR = np.float64(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Protocol <= 2 pickles store array bytes as ``_codecs.encode(text, 'latin1')``; no other codec is allowed."""
    if encoding.lower().replace("-", "") != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


def _plain_bytes(*args: Any) -> bytes:
    """Protocol <= 2 pickles write empty byte strings as ``bytes()``; refuse ``bytes(n)`` (allocates n bytes)."""
    if args and not isinstance(args[0], (str, bytes)):
        raise pickle.UnpicklingError("refusing bytes() of a non-string")
    return bytes(*args)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
    ("builtins", "bytes"): _plain_bytes,
    ("__builtin__", "bytes"): _plain_bytes,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(_module, "scalar")] = _SCALAR
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_module, "_frombuffer")] = _FROMBUFFER


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only NumPy arrays and plain containers are allowed"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids")


def _check_arrays(value: Any, path: Path) -> None:
    """Object arrays could smuggle anything the allow-list let through; only numeric/str dtypes pass."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, np.ndarray):
            if item.dtype.hasobject:
                raise DataError(path, "pickle holds an object array; only numeric arrays are allowed")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def safe_load_pickle(path: Path) -> Any:
    """Load a pickle of nested dict/list/tuple/numbers/str/NumPy arrays; refuse anything else with DataError."""
    require_file(path)
    try:
        with path.open("rb") as stream:
            value = _ArrayUnpickler(stream, encoding="latin1").load()
    except OSError as error:
        raise DataError(path, f"cannot read file: {error}") from None
    except pickle.UnpicklingError as error:
        raise DataError(path, f"unsafe or corrupt pickle: {error}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, MemoryError) as error:
        raise DataError(path, f"corrupt or truncated pickle: {type(error).__name__}: {error}") from None
    _check_arrays(value, path)
    return value
