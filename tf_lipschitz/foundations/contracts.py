"""What the callbacks ask of a model: small declared interfaces (`typing.Protocol`) instead of attribute probing.

A callback states the interface it needs and checks it with `isinstance` when training starts; a model speaks
an interface by having its members, no base class needed. `tf_lipschitz.models.LipschitzGAN` (and so
`WGANALP`, `WGANGP`) implements all of them.

- `Sampler`: `generate(n, batch_size=..., *, seed=None)`, samples as a NumPy array. Enough for the metric
  callbacks (`FrechetInceptionDistance`, `InceptionScore`).
- `GenerativeModel`: a `Sampler` with its networks and loss: `generator`, `critic` (Keras models), `latent_dim`,
  `latent_noise(n, seed)` and `gan_loss` (a `tf_lipschitz.losses.GANLoss`, its α included). Needed by
  `SampleGrid`, `DomainRangeLogger`, `ToyW1Monitor`; `LipschitzMonitor` watches the `critic` of one.
- `AveragesGenerator`: `generator_ema` (β, or None when the model keeps no average) and `ema_weights()`, a
  context in which `generator` holds the moving average of its weights. Needed by `SampleGrid(ema=True)`.
- `CountsSteps`: `step_counter`, a scalar variable with the number of training steps done (restored on resume).
  Periodic callbacks number their outputs by it when the model has one.

Imports run one way: callbacks (and anything else) import this module; it imports nothing of the library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import keras

__all__ = ["Sampler", "GenerativeModel", "AveragesGenerator", "CountsSteps", "members", "training_step"]


@runtime_checkable
class Sampler(Protocol):
    """Anything that draws samples: `generate(n, batch_size=..., *, seed=None) -> np.ndarray`.

    Example:
        >>> class Constant:
        ...     def generate(self, n, batch_size=256, *, seed=None):
        ...         return np.zeros((n, 2), "float32")
        >>> isinstance(Constant(), Sampler)
        True
    """

    def generate(self, n: int, batch_size: int = 256, *, seed: int | None = None) -> np.ndarray:
        """n samples (inference mode), `batch_size` at a time; the same for the same `seed`."""
        ...


@runtime_checkable
class GenerativeModel(Sampler, Protocol):
    """A GAN as the callbacks see it: its two networks, latent size, latent sampler, loss and `generate`.

    Example:
        >>> from tf_lipschitz.models import LipschitzGAN
        >>> gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> isinstance(LipschitzGAN(gen, critic, latent_dim=2), GenerativeModel)
        True
        >>> isinstance(critic, GenerativeModel)
        False
    """

    generator: keras.Model
    critic: keras.Model
    latent_dim: int
    gan_loss: Any  # a `tf_lipschitz.losses.GANLoss` (losses sit above this module, so it is not imported here)

    def latent_noise(self, n: int, seed: int | None = None) -> np.ndarray:
        """n latent vectors z ~ N(0, I), shape (n, latent_dim); the same for the same `seed`."""
        ...


@runtime_checkable
class AveragesGenerator(Protocol):
    """A GAN that may keep an exponential moving average of its generator's weights.

    Example:
        >>> from tf_lipschitz.models import LipschitzGAN
        >>> gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> critic = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> gan = LipschitzGAN(gen, critic, latent_dim=2, generator_ema=0.999)
        >>> isinstance(gan, AveragesGenerator), gan.generator_ema
        (True, 0.999)
    """

    generator_ema: float | None

    def ema_weights(self) -> Any:
        """A context manager in which `generator` computes with the averaged weights (restored on exit)."""
        ...


@runtime_checkable
class CountsSteps(Protocol):
    """A model that counts its training steps in `step_counter` (a scalar integer variable, saved with it).

    Example:
        >>> class Counted:
        ...     step_counter = keras.Variable(3)
        >>> isinstance(Counted(), CountsSteps), training_step(Counted())
        (True, 3)
    """

    step_counter: Any


def training_step(model: Any) -> int | None:
    """The model's training-step count if it declares one (`CountsSteps`), else None.

    Args:
        model: Any model.

    Returns:
        `int(model.step_counter)` or None.

    Example:
        >>> training_step(keras.Sequential()) is None
        True
    """
    if isinstance(model, CountsSteps):
        return int(np.asarray(model.step_counter))
    return None


def members(protocol: type) -> tuple[str, ...]:
    """The public members a Protocol of this module declares, its bases' included (for error messages).

    Example:
        >>> members(GenerativeModel)
        ('generate', 'generator', 'critic', 'latent_dim', 'gan_loss', 'latent_noise')
    """
    names: list[str] = []
    for cls in reversed(protocol.__mro__):
        if Protocol in cls.__bases__:
            for name in (*getattr(cls, "__annotations__", {}), *vars(cls)):
                if not name.startswith("_") and name not in names:
                    names.append(name)
    return tuple(names)
