"""Reads the tensors and attributes of a TorchScript archive with the standard library and NumPy only.

A TorchScript archive (`torch.jit.save`) is a zip file with one top folder holding:

- `data.pkl`: a protocol-2 pickle of the module tree. Each scripted module is an object of a class
  named `__torch__.<module path> <class>`, created empty and then given its attribute dict; each tensor
  is a call `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`
  whose `storage` is a persistent id `("storage", torch.<Type>Storage, key, device, numel)`.
  Typed list attributes (`List[int]`) are calls `torch.jit._pickle.build_intlist([...])`.
- `data/<key>`: the raw little-endian bytes of each storage.
- `code/`: the TorchScript source of every class (readable Python-like text), `constants.pkl`, `version`.

`load_torchscript` unpickles `data.pkl` with an `Unpickler` that resolves only the names above (any other
global in the pickle is refused, so nothing in the file is executed), reads each storage once (exactly its
declared size, within a budget of `max_bytes` for the whole archive), and views tensors into it with their
offset and strides after checking that every element of the view lies inside the storage: a crafted
archive gets a `ValueError` naming the entry, never process memory or a crash.

Reference:
    PyTorch's serialization format notes, `torch/csrc/jit/docs/serialization.md`.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import os
import pickle
import zipfile
from typing import Any

import numpy as np

__all__ = ["TorchScriptArchive", "load_torchscript", "STORAGE_DTYPES", "DEFAULT_MAX_BYTES"]

# torch.<name>Storage -> NumPy dtype of its elements (little endian, as torch writes them).
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}

DEFAULT_MAX_BYTES = 2 << 30
_LIST_BUILDERS = ("build_intlist", "build_floatlist", "build_boollist", "build_doublelist", "build_tensorlist")


class _ScriptObject:
    """An instance of a scripted class (`__torch__.*`): only its qualified name and attribute dict."""

    qualified_name = ""

    def __setstate__(self, state: dict) -> None:
        self.__dict__["attributes"] = dict(state)


@dataclasses.dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: np.dtype


@dataclasses.dataclass
class TorchScriptArchive:
    """The contents of a TorchScript archive, as NumPy arrays and plain Python values.

    Args:
        tensors: Every tensor attribute of the module tree, keyed by its dotted path
            (`"net.layers.conv.weight"`), in the pickle's order.
        attributes: Every other leaf attribute (ints, floats, bools, strings, lists, `None`) by dotted path.
        classes: The qualified class name of each scripted object, by dotted path (`""` for the root).
        code: The TorchScript source files of `code/`, by their path below `code/`.

    Example:
        >>> archive = load_torchscript("default_1.pt")  # doctest: +SKIP
        >>> archive.tensors["net.layers.conv.weight"].shape  # doctest: +SKIP
        (32, 3, 3, 3)
    """

    tensors: dict[str, np.ndarray]
    attributes: dict[str, Any]
    classes: dict[str, str]
    code: dict[str, str]

    def parameter_count(self) -> int:
        """Total number of tensor elements.

        Example:
            >>> TorchScriptArchive({"w": np.zeros((2, 3))}, {}, {}, {}).parameter_count()
            6
        """
        return int(sum(t.size for t in self.tensors.values()))


@dataclasses.dataclass(frozen=True)
class _Storage:
    """One storage, read from its archive entry: the entry's name (for messages) and its elements."""

    entry: str
    elements: np.ndarray


class _Budget:
    """Bytes the archive may still make us hold: storages read plus tensors copied out of them."""

    def __init__(self, max_bytes: int):
        self.left = max_bytes
        self.max_bytes = max_bytes

    def take(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise ValueError(
                f"{what} needs {nbytes} bytes, beyond the reader's limit of {self.max_bytes} bytes for the whole "
                "archive (`max_bytes`)."
            )
        self.left -= nbytes


def _int_tuple(values, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not all(type(v) is int for v in values):
        raise ValueError(f"{what} must be a tuple of ints. Received: {values!r}")
    return tuple(values)


def _view(storage: _Storage, offset, size, stride, budget: _Budget) -> np.ndarray:
    """The tensor `storage[offset + Σ i_k·stride_k]`, copied out, after checking that every index is inside."""
    what = f"A tensor viewing storage {storage.entry!r}"
    size, stride = _int_tuple(size, f"{what}: its size"), _int_tuple(stride, f"{what}: its stride")
    length = len(storage.elements)
    if type(offset) is not int or len(size) != len(stride) or len(size) > 32:
        raise ValueError(f"{what} has offset {offset!r}, size {size} and stride {stride}: not a tensor view.")
    if any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise ValueError(f"{what} has a negative size or stride: size {size}, stride {stride}.")
    count = math.prod(size)
    # Python ints: no overflow. With strides >= 0 the indices run from `offset` to `last`.
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if count else offset
    if offset < 0 or last >= length + (count == 0):
        raise ValueError(
            f"{what} (size {size}, stride {stride}, offset {offset}) overruns its storage of {length} elements."
        )
    budget.take(count * storage.elements.dtype.itemsize, what)
    if count == 0:
        return np.empty(size, storage.elements.dtype)
    if not size:  # a 0-d tensor: its value, as a NumPy scalar
        return storage.elements[offset].copy()
    itemsize = storage.elements.dtype.itemsize
    strides = tuple(s * itemsize if n > 1 else 0 for n, s in zip(size, stride))  # a size-1 axis's stride is unused
    view = np.lib.stride_tricks.as_strided(storage.elements[offset:], shape=size, strides=strides, writeable=False)
    return np.ascontiguousarray(view)


class _ArchiveUnpickler(pickle.Unpickler):
    """Unpickler of `data.pkl` that knows only the few names a TorchScript module tree needs."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, budget: _Budget):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._budget = budget
        self._storages: dict[str, _Storage] = {}
        self._classes: dict[str, type] = {}

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                           metadata=None):
        """`torch._utils._rebuild_tensor_v2` without torch: a bounded view of `storage`, copied."""
        if not isinstance(storage, _Storage):
            raise ValueError(f"A tensor's storage must be a storage record of the archive. Received: {storage!r}")
        return _view(storage, storage_offset, size, stride, self._budget)

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch.jit._pickle" and name in _LIST_BUILDERS:
            return list  # typed lists (`List[int]` attributes) are pickled as build_intlist([...]) etc.
        if module == "__torch__" or module.startswith("__torch__."):
            qualified = f"{module}.{name}"
            if qualified not in self._classes:
                self._classes[qualified] = type(name, (_ScriptObject,), {"qualified_name": qualified})
            return self._classes[qualified]
        raise pickle.UnpicklingError(f"Refusing to load {module}.{name}: not part of a TorchScript module tree.")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"Unsupported persistent id {pid!r}.")
        _, storage_type, key, _device, numel = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or type(numel) is not int:
            raise pickle.UnpicklingError(f"Unsupported storage record {pid!r}.")
        entry = f"{self._prefix}data/{key}"
        if key in self._storages:
            known = self._storages[key]
            if known.elements.dtype != storage_type.dtype or len(known.elements) != numel:
                raise ValueError(f"Storage {entry!r} is declared twice with different types or sizes.")
            return known
        nbytes = numel * storage_type.dtype.itemsize
        try:
            info = self._archive.getinfo(entry)
        except KeyError:
            raise ValueError(f"Storage {entry!r} is missing from the archive.") from None
        if numel < 0 or info.file_size != nbytes:
            raise ValueError(
                f"Storage {entry!r} holds {info.file_size} bytes, but is declared as {numel} elements of "
                f"{storage_type.name} ({nbytes} bytes)."
            )
        self._budget.take(nbytes, f"Storage {entry!r}")
        raw = _read_entry(self._archive, entry, nbytes)
        self._storages[key] = _Storage(entry, np.frombuffer(raw, storage_type.dtype, count=numel))
        return self._storages[key]


def _read_entry(archive: zipfile.ZipFile, name: str, nbytes: int) -> bytes:
    """Reads exactly `nbytes` of entry `name`, never more, whatever its header claims."""
    with archive.open(name) as handle:
        data = handle.read(nbytes)
        if len(data) != nbytes or handle.read(1):
            raise ValueError(f"Archive entry {name!r} does not hold the {nbytes} bytes its header declares.")
    return data


def _archive_prefix(archive: zipfile.ZipFile) -> str:
    pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(f"Not a TorchScript archive: expected one <folder>/data.pkl, found {pickles}.")
    return pickles[0][: -len("data.pkl")]


def _flatten(obj, path: str, archive: TorchScriptArchive) -> None:
    if isinstance(obj, _ScriptObject):
        archive.classes[path] = obj.qualified_name
        for name, value in obj.__dict__.get("attributes", {}).items():
            _flatten(value, f"{path}.{name}" if path else name, archive)
    elif isinstance(obj, np.ndarray):
        archive.tensors[path] = obj
    else:
        archive.attributes[path] = obj


def _read_capped(archive: zipfile.ZipFile, name: str, budget: _Budget) -> bytes:
    size = archive.getinfo(name).file_size
    budget.take(size, f"Archive entry {name!r}")
    return _read_entry(archive, name, size)


def load_torchscript(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES) -> TorchScriptArchive:
    """Reads every tensor and attribute of a TorchScript archive, without torch.

    Args:
        path: A file written by `torch.jit.save`.
        max_bytes: Most bytes the archive may make the reader hold: its pickle, code, storages and
            the tensors copied out of them (default 2 GiB; the FID Inception needs 0.2 GB).

    Returns:
        A `TorchScriptArchive`; tensors are C-contiguous NumPy arrays of the storage's dtype.

    Raises:
        ValueError: If the file is not a TorchScript archive; if `data.pkl` names anything besides
            tensors, storages and scripted classes; if a storage's entry does not hold exactly its
            declared size; if a tensor's size, stride or offset reach outside its storage; or if the
            archive needs more than `max_bytes`. The message names the archive entry.
        zipfile.BadZipFile: If the file is not a zip file or an entry fails its CRC check.

    Example:
        >>> archive = load_torchscript(fetch_inception_archive())  # doctest: +SKIP
        >>> len(archive.tensors), archive.parameter_count()  # doctest: +SKIP
        (376, 21802784)
    """
    with zipfile.ZipFile(path) as archive:
        prefix = _archive_prefix(archive)
        budget = _Budget(int(max_bytes))
        pickled = _read_capped(archive, prefix + "data.pkl", budget)
        result = TorchScriptArchive({}, {}, {}, {})
        try:
            _flatten(_ArchiveUnpickler(io.BytesIO(pickled), archive, prefix, budget).load(), "", result)
        except ValueError:
            raise
        except Exception as err:  # a crafted pickle: a message naming the file, never a traceback into pickle
            raise ValueError(f"{os.fspath(path)}: {prefix}data.pkl is not a TorchScript module tree: {err}") from err
        code_prefix = prefix + "code/"
        for name in archive.namelist():
            if name.startswith(code_prefix) and name.endswith(".py"):
                text = _read_capped(archive, name, budget).decode("utf-8", errors="replace")
                result.code[name[len(code_prefix) :]] = text
    return result
