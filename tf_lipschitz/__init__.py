"""tf_lipschitz: Lipschitz-constrained layers, Adversarial Lipschitz Regularization and Lipschitz GANs for Keras 3.

After `import tf_lipschitz as tfl`, every sub-package is an attribute, imported on first use. By layer, each
importing only from those below it (README, "Where things are"; `lint-imports` checks it): `tfl.foundations`
(validation, contracts, optional extras, files, defaults); `tfl.ops` (power iteration, operator norms);
`tfl.layers`, `tfl.constraints`, `tfl.optimizers`, `tfl.penalties`, `tfl.losses`, `tfl.data`, `tfl.toy`;
`tfl.divergences`; `tfl.analysis` (every bound and estimate of a network, `lipschitz_clone`, `export_plain`);
`tfl.models`, `tfl.evaluation` (the `[eval]` extra), `tfl.robustness`; `tfl.callbacks`; `tfl.training` (run loop,
checkpoints, `tf.distribute`); `tfl.architectures`; `tfl.recipes`, `tfl.reporting`; `tfl.commands`.
`tfl.convert`, `tfl.checkpoints`, `tfl.distribute`, `tfl.contracts`, `tfl.validation` and `tfl.unconstrained_wgan`
name the modules that hold those concepts (`tf_lipschitz.analysis.convert`, …). The layers are also exported at the
top level.

Example:
    >>> import tf_lipschitz as tfl
    >>> tfl.penalties.gradient_penalty.__name__, tfl.architectures.toy_mlp.__name__
    ('gradient_penalty', 'toy_mlp')
"""

import importlib

__version__ = "0.1.0"

# `tfl.<name>` -> the module that holds it: the sub-packages by layer from the bottom (setup.cfg, [importlinter]),
# then the short names earlier releases documented for modules that now live inside a package.
_SUBMODULES = {
    **{name: name for name in (
        "foundations", "ops", "layers", "constraints", "optimizers", "penalties", "losses", "data", "toy",
        "divergences", "analysis", "models", "evaluation", "robustness", "callbacks", "training", "architectures",
        "recipes", "reporting", "commands",
    )},
    "validation": "foundations.validation",
    "contracts": "foundations.contracts",
    "unconstrained_wgan": "penalties.unconstrained",
    "convert": "analysis.convert",
    "checkpoints": "training.checkpoints",
    "distribute": "training.distribute",
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
