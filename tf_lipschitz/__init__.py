"""tf_lipschitz: Lipschitz-constrained layers, Adversarial Lipschitz Regularization and Lipschitz GANs for Keras 3.

After `import tf_lipschitz as tfl`, every sub-package is an attribute, imported on first use: `tfl.layers`,
`tfl.penalties`, `tfl.losses`, `tfl.models`, `tfl.callbacks` (the core: TensorFlow, Keras and NumPy only),
`tfl.ops`, `tfl.optimizers`, `tfl.analysis`, `tfl.convert`, `tfl.constraints`, `tfl.architectures`,
`tfl.evaluation` (the `[eval]` extra), `tfl.divergences`, `tfl.unconstrained_wgan`, `tfl.toy`, `tfl.recipes`,
`tfl.reporting`, `tfl.data`, `tfl.training`, `tfl.checkpoints`, `tfl.distribute`, `tfl.contracts`,
`tfl.validation`. Each name is the home of its concept: `tfl.convert` is `tf_lipschitz.analysis.convert`,
`tfl.checkpoints` and `tfl.distribute` are in `tf_lipschitz.training`, `tfl.contracts` and `tfl.validation` in
`tf_lipschitz.foundations`, `tfl.unconstrained_wgan` is `tf_lipschitz.penalties.unconstrained`. The layers are
also exported at the top level.

Example:
    >>> import tf_lipschitz as tfl
    >>> tfl.penalties.gradient_penalty.__name__, tfl.architectures.toy_mlp.__name__
    ('gradient_penalty', 'toy_mlp')
"""

import importlib

__version__ = "0.1.0"

# `tfl.<name>` -> the module that is that concept's home. The packages below are listed by layer (README, "Where
# things are"); a few concepts keep their short top-level name although they live inside a package.
_SUBMODULES = {
    "validation": "foundations.validation",
    "contracts": "foundations.contracts",
    "ops": "ops",
    "layers": "layers",
    "constraints": "constraints",
    "optimizers": "optimizers",
    "penalties": "penalties",
    "unconstrained_wgan": "penalties.unconstrained",
    "losses": "losses",
    "divergences": "divergences",
    "data": "data",
    "toy": "toy",
    "reporting": "reporting",
    "analysis": "analysis",
    "convert": "analysis.convert",
    "models": "models",
    "evaluation": "evaluation",
    "callbacks": "callbacks",
    "training": "training",
    "checkpoints": "training.checkpoints",
    "distribute": "training.distribute",
    "architectures": "architectures",
    "recipes": "recipes",
}

# The layer names exported at the top level, also loaded on first use: `import tf_lipschitz` imports no
# TensorFlow, so that the `tf-lipschitz` command answers `--help` and argument errors at once.
_LAYER_EXPORTS = (
    "SpectralNormConv2D",
    "SpectralNormDense",
    "ToeplitzNormConv2D",
    "advance_power_iteration",
    "power_iteration_frozen",
)

__all__ = [*_LAYER_EXPORTS, *_SUBMODULES]


def __getattr__(name: str):
    # PEP 562: sub-packages load on first access, so `import tf_lipschitz` stays light and optional extras
    # (evaluation, plots) are only needed when used.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{_SUBMODULES[name]}")
    if name in _LAYER_EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.layers"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_LAYER_EXPORTS))
