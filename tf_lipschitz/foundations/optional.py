"""Optional dependencies: import a module of an extra, or say which `pip install` provides it.

The core (layers, penalties, losses, models, callbacks) needs only TensorFlow, Keras and NumPy. Everything else
belongs to an extra of `setup.cfg`: `eval` (TF-GAN, TF-Probability, tf-keras, TF-Hub, tqdm), `data`
(TensorFlow Datasets, Pillow), `plots` (Matplotlib, Pillow, TensorBoard), `toy` (SciPy), `sdp` (cvxpy), or `all`
(every one of them: the hint "or tf-lipschitz[all]" is true for each).
"""

from __future__ import annotations

import importlib
import types

__all__ = ["require"]

# Import name -> distribution name, where the two differ.
_DISTRIBUTIONS = {
    "PIL": "pillow",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "tensorflow_datasets": "tensorflow-datasets",
    "tensorflow_hub": "tensorflow-hub",
    "tensorflow_probability": "tensorflow-probability",
    "tensorflow_gan": "tensorflow-gan",
    "tf_keras": "tf-keras",
    "tqdm": "tqdm",
}


def require(module: str, *, extra: str) -> types.ModuleType:
    """Imports `module`, or raises an ImportError that names the extra to install.

    Args:
        module: Dotted module name, e.g. "matplotlib.pyplot" or "scipy.optimize".
        extra: The `setup.cfg` extra that provides it ("eval", "data", "plots", "toy").

    Returns:
        The imported module.

    Raises:
        ImportError: if the module (or a package it needs) is not installed; the message says
            `pip install "tf-lipschitz[<extra>]"`.

    Example:
        >>> require("json", extra="plots").__name__
        'json'
        >>> require("no_such_module_xyz", extra="plots")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ImportError: no_such_module_xyz is needed here but not installed: pip install "tf-lipschitz[plots]" ...
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        top = module.split(".")[0]
        missing = err.name.split(".")[0] if err.name else top
        package = _DISTRIBUTIONS.get(missing, missing)
        raise ImportError(
            f"{package} is needed here but not installed: pip install \"tf-lipschitz[{extra}]\" "
            f"(or \"tf-lipschitz[all]\"; from a checkout: pip install -e \".[{extra}]\")"
        ) from err
