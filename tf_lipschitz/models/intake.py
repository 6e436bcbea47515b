"""What a model's `fit` takes in: checks of the real samples, batching, and splitting a step into critic batches.

The one home of the GAN's data intake: `sample_shape` and `resolve_data_range` fix, at construction, what a
real sample must look like; `GANIntake` turns what `LipschitzGAN.fit` receives (an array or a
`tf.data.Dataset`) into checked steps of `n_critic` critic batches and splits each step inside `train_step`;
the checks (`check_floating`, `check_finite`, ...) also serve `LipschitzRegularizedModel.fit`.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf

from tf_lipschitz.foundations.validation import check_float, check_int

__all__ = [
    "GANIntake", "sample_shape", "resolve_data_range", "check_floating", "check_finite", "check_real_spec", "check_real_values", "check_split",
    "array_dataset", "stochastic_layers", "STOCHASTIC_LAYERS",
]

_REAL_SAMPLES = "real samples (what the generator outputs, e.g. images scaled to [-1, 1] as x / 127.5 - 1)"
# Public Keras layers that draw fresh noise in training mode.
STOCHASTIC_LAYERS = (
    keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout,
)


def sample_shape(generator, critic, latent_dim: int) -> tuple:
    """The shape of one real sample (batch axis excluded), after checking that the generator feeds the critic.

    Raises:
        ValueError: when either network is not a Keras layer, the generator's output shape differs from the
            critic's input shape, or the critic does not output one score per sample.
    """
    for model, arg in ((generator, "generator"), (critic, "critic")):
        if not isinstance(model, keras.layers.Layer):
            raise ValueError(f"`{arg}` must be a Keras model or layer. Received: {arg}={model!r}")
    fake = generator(keras.KerasTensor((None, latent_dim)))
    critic_inputs = getattr(critic, "inputs", None) if isinstance(critic, keras.Model) else None
    expected = tuple(critic_inputs[0].shape) if critic_inputs else tuple(fake.shape)
    got = tuple(fake.shape)
    if len(got) != len(expected) or any(a is not None and b is not None and a != b
                                        for a, b in zip(got[1:], expected[1:])):
        raise ValueError(
            f"The generator's output shape {got} must equal the critic's input shape {expected} (batch axis excluded)."
        )
    score = critic(fake)
    if not (len(score.shape) == 1 or (len(score.shape) == 2 and score.shape[1] == 1)):
        raise ValueError(
            f"The critic must output one score per sample, shape (batch,) or (batch, 1). "
            f"Received output shape {tuple(score.shape)}."
        )
    return tuple(d if d is not None else e for d, e in zip(got[1:], expected[1:]))


def resolve_data_range(data_range, generator) -> tuple[float, float] | None:
    """`data_range` as (low, high) or None; "auto" reads the generator's last activation (tanh, sigmoid).

    Raises:
        ValueError: for a string other than "auto", or low ≥ high.
    """
    if data_range is None:
        return None
    if isinstance(data_range, str):
        if data_range != "auto":
            raise ValueError(f"`data_range` must be None, 'auto' or (low, high). Received: data_range={data_range!r}")
        last = generator.layers[-1] if getattr(generator, "layers", None) else generator
        name = getattr(getattr(last, "activation", None), "__name__", "")
        return {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}.get(name)
    low, high = (float(v) for v in data_range)
    if not low < high:
        raise ValueError(f"`data_range` must be (low, high) with low < high. Received: data_range={data_range!r}")
    return (low, high)


def _fmt_shape(shape) -> str:
    return "(batch, " + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def check_floating(dtype, where: str = "dataset", what: str = _REAL_SAMPLES) -> None:
    """Raises a ValueError when `dtype` is not a floating-point dtype.

    Args:
        dtype: The dtype of the data.
        where: Names the source in the message ("dataset", "array", "input array").
        what: What the data must be, for the message.

    Raises:
        ValueError: for an integer, boolean or string dtype, naming it.

    Example:
        >>> check_floating("uint8", "array", "inputs")
        Traceback (most recent call last):
        ...
        ValueError: The array must yield floating-point inputs. Received dtype uint8.
    """
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
        raise ValueError(f"The {where} must yield floating-point {what}. Received dtype {dtype.name}.")


def check_finite(x, where: str = "dataset", what: str = "real samples") -> None:
    """Raises a ValueError naming how many values are NaN or Inf when the array `x` has any.

    Example:
        >>> check_finite(np.array([1.0, np.nan]), "array", "inputs")
        Traceback (most recent call last):
        ...
        ValueError: The array yields NaN or Inf values in its inputs (1 of 2 values).
    """
    x = np.asarray(x)
    bad = x.size - int(np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"The {where} yields NaN or Inf values in its {what} ({bad} of {x.size} values).")


def check_split(batch_size: int, n_critic: int, where: str = "dataset") -> None:
    """Raises a ValueError when a batch of `batch_size` real samples does not split into `n_critic` equal chunks.

    Example:
        >>> check_split(64, 5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Each batch of the dataset is split into n_critic=5 critic batches, ... Received batch size 64.
    """
    if batch_size % n_critic:
        raise ValueError(
            f"Each batch of the {where} is split into n_critic={n_critic} critic batches, so its size must be a "
            f"multiple of {n_critic} (batch the data by n_critic × the critic batch, e.g. {n_critic * 64} for "
            f"critic batches of 64). Received batch size {batch_size}."
        )


def array_dataset(x, critic_batch_size: int, n_critic: int, shuffle: bool = True, seed: int | None = None):
    """A `tf.data.Dataset` of `n_critic × critic_batch_size` rows of the array `x` per element (full batches only).

    Each epoch (each iteration of the dataset) is a new permutation when `shuffle`; the rows left over after the
    last full batch are not used in that epoch (other rows each epoch when shuffled).

    Args:
        x: A NumPy array or tensor of real samples, rows first.
        critic_batch_size: Samples per critic update.
        n_critic: Critic updates per step.
        shuffle: Draw a new order every epoch.
        seed: Seed of the shuffling.

    Returns:
        The dataset; its elements have the static shape (n_critic × critic_batch_size, *x.shape[1:]).

    Raises:
        ValueError: when `x` has fewer rows than one step needs.

    Example:
        >>> ds = array_dataset(np.arange(10.0).reshape(10, 1), critic_batch_size=2, n_critic=2, shuffle=False)
        >>> [e.numpy().ravel().tolist() for e in ds]
        [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    """
    step = n_critic * critic_batch_size
    n = int(x.shape[0])
    if n < step:
        raise ValueError(
            f"One training step takes n_critic × batch_size = {n_critic} × {critic_batch_size} = {step} samples, "
            f"but the array has only {n}. Pass a smaller `batch_size`."
        )
    data = tf.convert_to_tensor(x)
    indices = tf.data.Dataset.range(n)
    if shuffle:
        indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return indices.batch(step, drop_remainder=True).map(lambda i: tf.gather(data, i))


def stochastic_layers(model) -> list:
    """Names of the layers of `model` (nested models included) that draw noise in training mode.

    Dropout and its spatial variants, GaussianNoise, GaussianDropout and AlphaDropout (`STOCHASTIC_LAYERS`).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4), keras.layers.Dropout(0.5, name="drop")])
        >>> stochastic_layers(m)
        ['drop']
    """
    names = []
    for layer in model.layers if isinstance(model, keras.Model) else []:
        if isinstance(layer, STOCHASTIC_LAYERS):
            names.append(layer.name)
        names.extend(stochastic_layers(layer))
    return names


def check_real_spec(shape, dtype, sample_shape, n_critic: int, where: str = "dataset") -> None:
    """Raises a ValueError naming what was expected when a real batch has the wrong shape or dtype.

    Args:
        shape: The batch's (static) shape, batch axis first.
        dtype: Its dtype.
        sample_shape: The critic's input shape without the batch axis.
        n_critic: Critic updates per step (the batch is split into that many chunks).
        where: Names the source in the message.
    """
    check_floating(dtype, where)
    shape = tuple(shape)
    if len(shape) != len(sample_shape) + 1 or any(
        a is not None and b is not None and a != b for a, b in zip(shape[1:], sample_shape)
    ):
        raise ValueError(
            f"The {where} must yield real batches shaped like the critic's input, {_fmt_shape(sample_shape)}. "
            f"Received shape {tuple(shape)}."
        )
    if shape[0] is not None and shape[0] < n_critic:
        raise ValueError(
            f"Each batch of the {where} is split into n_critic={n_critic} critic batches, so it needs at least "
            f"{n_critic} samples (batch the data by n_critic × the critic batch). Received batch size {shape[0]}."
        )


def check_real_values(x, data_range, where: str = "dataset") -> None:
    """Raises a ValueError if the array `x` has NaN/Inf or values outside `data_range` (None: no range check)."""
    x = np.asarray(x)
    check_finite(x, where)
    if data_range is None or x.size == 0:
        return
    low, high = data_range
    tol = 1e-3 * (high - low)
    lo, hi = float(np.min(x)), float(np.max(x))
    if lo < low - tol or hi > high + tol:
        raise ValueError(
            f"The {where} must yield real samples in the generator's range [{low:g}, {high:g}] "
            f"(`data_range`). Received values in [{lo:g}, {hi:g}]; rescale the data (e.g. x / 127.5 - 1 "
            "for 8-bit images) or pass `data_range=None` to the model to skip this check."
        )


class GANIntake:
    """A GAN's data intake: what `fit` accepts, and how `train_step` splits a step into critic batches.

    Args:
        name: The model's name, for warnings.
        sample_shape: The critic's input shape without the batch axis.
        n_critic: Critic batches per step.
        data_range: (low, high) that real samples must lie in, or None.
        seed: Seed of the array shuffling.

    Example:
        >>> intake = GANIntake("gan", (2,), n_critic=2, data_range=None, seed=0)
        >>> chunks, size = intake.split(tf.zeros((6, 2)))
        >>> [tuple(c.shape) for c in chunks], size
        ([(3, 2), (3, 2)], 3)
    """

    def __init__(self, name: str, sample_shape: tuple, n_critic: int, data_range, seed: int | None):
        self.name, self.sample_shape, self.n_critic = name, tuple(sample_shape), n_critic
        self.data_range, self.seed = data_range, seed

    # ------------------------------------------------------------------------------------- at `fit`
    def prepare(self, x, y, batch_size, kwargs: dict, comparing_penalty: str | None, critic) -> tuple:
        """Checks what `fit` received and returns `(x, batch_size, kwargs)` to pass on to `keras.Model.fit`.

        Arrays become a dataset of steps (`array_dataset`); a dataset is checked by its element spec and its
        first batch. Labels are ignored with a warning; a critic that draws noise under a penalty that compares
        separate calls of it (`comparing_penalty`, its name, or None) gets a warning.
        """
        kwargs = dict(kwargs)
        for key in ("sample_weight", "class_weight"):
            if kwargs.get(key) is not None:
                raise ValueError(f"`LipschitzGAN.fit` does not take `{key}`. Received: {key}={kwargs[key]!r}")
        self._warn_if_labels(x, y)
        if comparing_penalty is not None:
            self._warn_if_stochastic(critic, comparing_penalty)
        if isinstance(x, (np.ndarray, tf.Tensor)):
            x, kwargs = self._array_dataset(x, batch_size, kwargs)
        elif isinstance(x, tf.data.Dataset):
            self._check_first_batch(x)
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # a dataset is shuffled by its pipeline; silences Keras' warning
            batch_size = None
        return x, batch_size, kwargs

    def _warn_if_labels(self, x, y) -> None:
        spec = x.element_spec if isinstance(x, tf.data.Dataset) else None
        if y is not None or (isinstance(spec, (tuple, list)) and len(spec) > 1):
            where = "`y`" if y is not None else "the dataset's elements after their first item"
            warnings.warn(
                f"{self.name}: a GAN trains on real samples only; the labels passed as {where} are ignored.",
                stacklevel=4,
            )

    def _warn_if_stochastic(self, critic, penalty: str) -> None:
        names = stochastic_layers(critic)
        if names:
            warnings.warn(
                f"{self.name}: the critic has layers that draw noise in training mode ({', '.join(names)}) and the "
                f"penalty {penalty!r} follows the adversarial direction: f(x) and f(x + r) then see different "
                "noise, so the direction and the ratio d_Y/d_X follow the noise rather than the critic's slope. "
                "See 'Stochastic critics' in the LipschitzGAN docstring.",
                stacklevel=4,
            )

    def _array_dataset(self, x, batch_size, kwargs):
        """The dataset of steps of `n_critic` critic batches of `batch_size` rows of the checked array `x`."""
        if len(x) == 0:
            raise ValueError(f"The training array is empty: shape {tuple(x.shape)}.")
        check_real_spec(x.shape, x.dtype, self.sample_shape, 1, where="array")
        check_real_values(x, self.data_range, where="array")
        batch_size = check_int("batch_size", 32 if batch_size is None else batch_size)
        split = kwargs.pop("validation_split", 0.0) or 0.0
        if split:
            n_val = int(len(x) * check_float("validation_split", split, maximum=1.0))
            kwargs.setdefault("validation_data", x[len(x) - n_val:])
            kwargs.setdefault("validation_batch_size", batch_size)
            x = x[:len(x) - n_val]
        shuffle = kwargs.pop("shuffle", True)
        return array_dataset(x, batch_size, self.n_critic, shuffle=shuffle, seed=self.seed), kwargs

    def _check_first_batch(self, x) -> None:
        spec = x.element_spec
        spec = spec[0] if isinstance(spec, (tuple, list)) else spec
        if not isinstance(spec, tf.TensorSpec):
            return
        check_real_spec(spec.shape, spec.dtype, self.sample_shape, self.n_critic)
        for element in x.take(1):
            batch = element[0] if isinstance(element, (tuple, list)) else element
            check_split(int(batch.shape[0]), self.n_critic)
            check_real_values(batch.numpy(), self.data_range)
            break
        else:
            raise ValueError("The training dataset is empty: it yielded no batch of real samples.")

    # -------------------------------------------------------------------------------- in the step
    def real_batch(self, data, n_chunks: int):
        """The real samples of a dataset element (labels, if any, are ignored), statically checked."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = tf.convert_to_tensor(x)
        check_real_spec(x.shape, x.dtype, self.sample_shape, n_chunks, where="training data")
        return x

    def split(self, x) -> tuple:
        """`n_critic` equal critic batches of the step's batch `x` (a remainder is unused), and their size."""
        size = x.shape[0]
        chunk = size // self.n_critic if size is not None else tf.shape(x)[0] // self.n_critic
        return [x[i * chunk:(i + 1) * chunk] for i in range(self.n_critic)], chunk
