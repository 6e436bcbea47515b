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
global in the pickle raises `pickle.UnpicklingError`, so nothing in the file is executed), reads each
storage once, and views tensors into it with their offset and strides.

Reference:
    PyTorch's serialization format notes, `torch/csrc/jit/docs/serialization.md`.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
import zipfile
from typing import Any

import numpy as np

__all__ = ["TorchScriptArchive", "load_torchscript", "STORAGE_DTYPES"]

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


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """Views `storage` (a 1-D array) as a tensor: `torch._utils._rebuild_tensor_v2` without torch."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not size:
        return storage[storage_offset].copy()
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else storage_offset - 1
    if storage_offset < 0 or last >= len(storage):
        raise pickle.UnpicklingError(
            f"Tensor of size {size}, stride {stride} and offset {storage_offset} overruns its storage of "
            f"{len(storage)} elements."
        )
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(s * itemsize for s in stride), writeable=False
    )
    return np.ascontiguousarray(view)


class _ArchiveUnpickler(pickle.Unpickler):
    """Unpickler of `data.pkl` that knows only the few names a TorchScript module tree needs."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._storages: dict[str, np.ndarray] = {}
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
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
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"Unsupported storage type {storage_type!r}.")
        if key not in self._storages:
            raw = self._archive.read(f"{self._prefix}data/{key}")
            if len(raw) < int(numel) * storage_type.dtype.itemsize:
                raise pickle.UnpicklingError(f"Storage {key!r} holds {len(raw)} bytes, fewer than {numel} elements.")
            self._storages[key] = np.frombuffer(raw, storage_type.dtype, count=int(numel))
        return self._storages[key]


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


def load_torchscript(path: str | os.PathLike) -> TorchScriptArchive:
    """Reads every tensor and attribute of a TorchScript archive, without torch.

    Args:
        path: A file written by `torch.jit.save`.

    Returns:
        A `TorchScriptArchive`; tensors are C-contiguous NumPy arrays of the storage's dtype.

    Raises:
        ValueError: If the file is not a TorchScript archive.
        pickle.UnpicklingError: If `data.pkl` names anything besides tensors, storages and scripted
            classes, or a tensor does not fit its storage.

    Example:
        >>> archive = load_torchscript(fetch_inception_archive())  # doctest: +SKIP
        >>> len(archive.tensors), archive.parameter_count()  # doctest: +SKIP
        (376, 21802784)
    """
    with zipfile.ZipFile(path) as archive:
        prefix = _archive_prefix(archive)
        root = _ArchiveUnpickler(io.BytesIO(archive.read(prefix + "data.pkl")), archive, prefix).load()
        code_prefix = prefix + "code/"
        code = {
            name[len(code_prefix) :]: archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.startswith(code_prefix) and name.endswith(".py")
        }
    result = TorchScriptArchive({}, {}, {}, code)
    _flatten(root, "", result)
    return result
