"""Progressive GAN networks per resolution level, weight transfer between levels, and the WGAN-ALP setup.

Level 0 is 4×4 and level L is (4·2^L)×(4·2^L). The generator of level L stacks the blocks of levels 0..L; its
output is the new block's toRGB faded in over the upsampled toRGB of level L − 1 (`FadeIn`, α from 0 to 1).
The critic mirrors it: fromRGB of level L and its block, faded in over fromRGB of the 2× average-pooled image,
then the lower blocks down to the 4×4 block with minibatch stddev. Every weighted layer uses the equalized
learning rate; the generator normalizes the latent and every feature vector with `PixelNormalization`.
Layer names encode the resolution (`g_8x8_conv0`, `d_from_rgb_16x16`, …) so `transfer_weights` can copy a
level's weights into the next one.

`progressive_gan(...)` records the networks' options and the growing schedule. The training setup of the ALR
paper's CelebA-HQ experiment (WGAN plus the ALP of Eq. (32) and the drift term, Adam) is a preset of
`tf_lipschitz.recipes` (`PROGRESSIVE_ALP`, `progressive_wgan_alp`).

Reference:
    Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation", ICLR 2018
    (`networks.py` in tkarras/progressive_growing_of_gans).
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, appendix A.2.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
from keras import layers

from tf_lipschitz.architectures.progressive_layers import (
    EqualizedConv2D,
    EqualizedDense,
    FadeIn,
    MinibatchStdDev,
    PixelNormalization,
    set_fade_in,
)
from tf_lipschitz.foundations.validation import check_int

__all__ = [
    "PROGRESSIVE_ALP",
    "ProgressiveGAN",
    "progressive_gan",
    "progressive_generator",
    "progressive_critic",
    "transfer_weights",
    "feature_maps",
    "set_fade_in",
]

# The ALR paper's Progressive GAN (appendix A.2, Eq. 32) as the author's fork of Karras et al.'s code runs it:
# WGAN loss + λ·(P_real + P_fake), each P the batch mean of (q − 1)₊² + (q − 1)₊ over reals (or fakes) alone
# (both_reduction="sum"), λ = 0.1, ε ~ U[0.1, 100], ξ = 10, one power iteration, K = 1, no clipping; drift 0.001;
# n_critic 1; generator batch = critic batch; generator EMA β = 0.999; Adam(β = (0, 0.99), ε = 1e-8) with
# the learning rate and minibatch by resolution of Karras et al.'s one-GPU preset ("preset-v2-1gpu", fp32):
# `progressive_schedule`.
PROGRESSIVE_ALP = {
    "gan": {"loss": "wgan", "penalty": "alp", "penalty_weight": 0.1, "regularize": "both", "both_reduction": "sum",
            "n_critic": 1, "generator_batch_multiplier": 1, "drift": 0.001, "generator_ema": 0.999},
    "penalty_kwargs": {"reduction": "squared+abs", "epsilon": (0.1, 100.0), "xi": 10.0, "power_iterations": 1,
                       "K": 1.0},
    "adam": {"learning_rate": 1e-3, "beta_1": 0.0, "beta_2": 0.99, "epsilon": 1e-8},
    # Minibatch by resolution (capped at 16/8/4 at 256/512/1024 for fp32 memory), and learning rates that differ
    # from adam["learning_rate"].
    "minibatch": {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 4},
    "learning_rate": {1024: 1.5e-3},
}

_SLOPE = 0.2  # LeakyReLU slope throughout both networks


def feature_maps(stage: int, fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_max: int = 512) -> int:
    """Channels at a stage: min(fmap_base / 2^(stage·fmap_decay), fmap_max); stage s serves resolution 2^(s+1).

    Args:
        stage: 0 for the latent/critic top, log2(resolution) − 1 for a block.
        fmap_base, fmap_decay, fmap_max: The paper's width schedule (8192, 1.0, 512).

    Returns:
        An int ≥ 1.

    Example:
        >>> [feature_maps(s) for s in range(1, 10)]
        [512, 512, 512, 512, 256, 128, 64, 32, 16]
    """
    return max(1, min(int(fmap_base / 2.0 ** (stage * fmap_decay)), fmap_max))


def _check_level(level: int) -> int:
    return check_int("level", level, minimum=0)  # level 0 is 4x4


def _res(level: int) -> str:
    size = 4 * 2 ** level
    return f"{size}x{size}"


def _lrelu(name: str):
    return layers.LeakyReLU(negative_slope=_SLOPE, name=name)


def progressive_generator(
    level: int,
    *,
    channels: int = 3,
    latent_dim: int | None = None,
    fmap_base: int = 8192,
    fmap_decay: float = 1.0,
    fmap_max: int = 512,
    alpha: float = 1.0,
    name: str | None = None,
) -> keras.Model:
    """The Progressive GAN generator of one level, with the fade-in from the previous level.

    Args:
        level: 0 for 4×4; the output is (4·2^level)².
        channels: Image channels.
        latent_dim: Latent size; default `feature_maps(0)` (512 in the paper).
        fmap_base, fmap_decay, fmap_max: Width schedule, see `feature_maps`.
        alpha: Initial fade-in α (only for level > 0); 0 reproduces the upsampled level − 1 output.
        name: Model name; default "progressive_generator_{res}".

    Returns:
        A functional `keras.Model` from (batch, latent_dim) to (batch, 4·2^level, 4·2^level, channels), linear
        output (no tanh, as in the paper).

    Raises:
        ValueError: for a negative level, non-positive sizes, or α outside [0, 1].

    Example:
        >>> g = progressive_generator(1, latent_dim=8, fmap_base=16, fmap_max=8)
        >>> g(np.zeros((2, 8), "float32")).shape
        TensorShape([2, 8, 8, 3])

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, Table 2.
    """
    level = _check_level(level)
    channels = check_int("channels", channels)
    nf = lambda stage: feature_maps(stage, fmap_base, fmap_decay, fmap_max)  # noqa: E731
    latent_dim = check_int("latent_dim", latent_dim or nf(0))
    z = keras.Input((latent_dim,), name="z")
    x = PixelNormalization(name="g_latent_norm")(z)
    # The 4×4 "conv" on a 1×1 latent is a dense layer; the reference uses gain √2/4 there.
    x = EqualizedDense(nf(1) * 16, gain=math.sqrt(2.0) / 4, name="g_4x4_dense")(x)
    x = layers.Reshape((4, 4, nf(1)), name="g_4x4_reshape")(x)
    x = PixelNormalization(name="g_4x4_norm0")(_lrelu("g_4x4_lrelu0")(x))
    x = EqualizedConv2D(nf(1), 3, name="g_4x4_conv")(x)
    x = PixelNormalization(name="g_4x4_norm1")(_lrelu("g_4x4_lrelu1")(x))
    previous = x
    for lv in range(1, level + 1):
        res, stage = _res(lv), lv + 1
        previous = x
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"g_{res}_up")(x)
        for i in range(2):
            x = EqualizedConv2D(nf(stage), 3, name=f"g_{res}_conv{i}")(x)
            x = PixelNormalization(name=f"g_{res}_norm{i}")(_lrelu(f"g_{res}_lrelu{i}")(x))
    images = EqualizedConv2D(channels, 1, gain=1.0, name=f"g_to_rgb_{_res(level)}")(x)
    if level > 0:
        old = EqualizedConv2D(channels, 1, gain=1.0, name=f"g_to_rgb_{_res(level - 1)}")(previous)
        old = layers.UpSampling2D(2, interpolation="nearest", name="g_fade_up")(old)
        images = FadeIn(alpha, name="g_fade_in")([old, images])
    return keras.Model(z, images, name=name or f"progressive_generator_{_res(level)}")


def progressive_critic(
    level: int,
    *,
    channels: int = 3,
    fmap_base: int = 8192,
    fmap_decay: float = 1.0,
    fmap_max: int = 512,
    group_size: int = 4,
    alpha: float = 1.0,
    name: str | None = None,
) -> keras.Model:
    """The Progressive GAN critic of one level, with the fade-in from the previous level.

    Blocks (LeakyReLU 0.2 after every conv): fromRGB (1×1); per level above 0, two 3×3 convs then 2× average
    pooling; at 4×4, minibatch stddev, a 3×3 conv, dense to `feature_maps(0)` and a linear dense to 1.

    Args:
        level: 0 for 4×4 inputs; the input is (4·2^level)².
        channels: Image channels.
        fmap_base, fmap_decay, fmap_max: Width schedule, see `feature_maps`.
        group_size: Minibatch-stddev group size (the batch must be divisible by min(group_size, batch)).
        alpha: Initial fade-in α (only for level > 0); 0 reproduces level − 1 on the 2× downscaled image.
        name: Model name; default "progressive_critic_{res}".

    Returns:
        A functional `keras.Model` from (batch, res, res, channels) to (batch, 1).

    Raises:
        ValueError: for a negative level, non-positive sizes, or α outside [0, 1].

    Example:
        >>> d = progressive_critic(1, fmap_base=16, fmap_max=8)
        >>> d(np.zeros((4, 8, 8, 3), "float32")).shape
        TensorShape([4, 1])

    Reference:
        Karras et al., "Progressive Growing of GANs", ICLR 2018, Table 2.
    """
    level = _check_level(level)
    channels = check_int("channels", channels)
    nf = lambda stage: feature_maps(stage, fmap_base, fmap_decay, fmap_max)  # noqa: E731

    def from_rgb(images, lv: int):
        h = EqualizedConv2D(nf(lv + 1), 1, name=f"d_from_rgb_{_res(lv)}")(images)
        return _lrelu(f"d_from_rgb_lrelu_{_res(lv)}")(h)

    size = 4 * 2 ** level
    images = keras.Input((size, size, channels), name="images")
    x = from_rgb(images, level)
    for lv in range(level, 0, -1):
        res, stage = _res(lv), lv + 1
        x = _lrelu(f"d_{res}_lrelu0")(EqualizedConv2D(nf(stage), 3, name=f"d_{res}_conv0")(x))
        x = _lrelu(f"d_{res}_lrelu1")(EqualizedConv2D(nf(stage - 1), 3, name=f"d_{res}_conv1")(x))
        x = layers.AveragePooling2D(2, name=f"d_{res}_down")(x)
        if lv == level:
            old = layers.AveragePooling2D(2, name="d_fade_down")(images)
            x = FadeIn(alpha, name="d_fade_in")([from_rgb(old, level - 1), x])
    if group_size > 1:
        x = MinibatchStdDev(group_size, name="d_4x4_stddev")(x)
    x = _lrelu("d_4x4_lrelu0")(EqualizedConv2D(nf(1), 3, name="d_4x4_conv")(x))
    x = layers.Flatten(name="d_4x4_flatten")(x)
    x = _lrelu("d_4x4_lrelu1")(EqualizedDense(nf(0), name="d_4x4_dense0")(x))
    x = EqualizedDense(1, gain=1.0, name="d_4x4_dense1")(x)
    return keras.Model(images, x, name=name or f"progressive_critic_{_res(level)}")


def transfer_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copies the weights of every layer of `source` into the layer of the same name in `target`.

    Used when growing: the blocks and toRGB/fromRGB of level L keep their trained weights at level L + 1.

    Args:
        source: The trained model (e.g. level L).
        target: The new model (e.g. level L + 1).

    Returns:
        The names of the layers copied, in `source` order.

    Raises:
        ValueError: if a layer of the same name has weights of different shapes.

    Example:
        >>> g0 = progressive_generator(0, latent_dim=4, fmap_base=8, fmap_max=4)
        >>> g1 = progressive_generator(1, latent_dim=4, fmap_base=8, fmap_max=4)
        >>> "g_4x4_conv" in transfer_weights(g0, g1)
        True
    """
    target_layers = {layer.name: layer for layer in target.layers}
    copied = []
    for layer in source.layers:
        weights = layer.get_weights()
        other = target_layers.get(layer.name)
        if not weights or other is None or isinstance(layer, FadeIn):
            continue
        shapes = [w.shape for w in weights], [tuple(w.shape) for w in other.weights]
        if shapes[0] != shapes[1]:
            raise ValueError(f"Layer {layer.name!r}: weight shapes differ, {shapes[0]} in source vs {shapes[1]}")
        other.set_weights(weights)
        copied.append(layer.name)
    return copied


@dataclasses.dataclass(frozen=True)
class ProgressiveGAN:
    """A Progressive GAN configuration: network builders per level and the growing schedule.

    Build with `progressive_gan(...)`. Training alternates, per level above 0, a transition phase (α ramps
    0 → 1 over `transition_images`) and a stabilization phase (`training_images` at α = 1); level 0 only
    stabilizes. `phase(images_seen)` gives the level and α at any point.

    Attributes:
        resolution: Final resolution (a power of 2 ≥ 4).
        channels, latent_dim, fmap_base, fmap_decay, fmap_max, group_size: Network options.
        training_images: Real images shown per stabilization phase (600k in the paper).
        transition_images: Real images shown per fade-in (600k in the paper).

    The training hyper-parameters are `PROGRESSIVE_ALP`; `lipschitz_gan_kwargs`, `penalty_kwargs` and
    `optimizer_kwargs` are read-only views of it.
    """

    resolution: int
    channels: int
    latent_dim: int
    fmap_base: int
    fmap_decay: float
    fmap_max: int
    group_size: int
    training_images: int
    transition_images: int

    @property
    def lipschitz_gan_kwargs(self) -> dict[str, Any]:
        """`LipschitzGAN` arguments of the paper's setup (`PROGRESSIVE_ALP["gan"]` and `latent_dim`)."""
        return {"latent_dim": self.latent_dim, **PROGRESSIVE_ALP["gan"]}

    @property
    def penalty_kwargs(self) -> dict[str, Any]:
        """The ALP options of Eq. (32) (`PROGRESSIVE_ALP["penalty_kwargs"]`)."""
        return dict(PROGRESSIVE_ALP["penalty_kwargs"])

    @property
    def optimizer_kwargs(self) -> dict[str, Any]:
        """The paper's Adam settings (`PROGRESSIVE_ALP["adam"]`)."""
        return dict(PROGRESSIVE_ALP["adam"])

    @property
    def num_levels(self) -> int:
        """Number of levels: log2(resolution) − 1 (level 0 is 4×4)."""
        return int(math.log2(self.resolution)) - 1

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Resolution of each level: (4, 8, …, resolution)."""
        return tuple(4 * 2 ** lv for lv in range(self.num_levels))

    def _networks(self) -> dict[str, Any]:
        return {"channels": self.channels, "fmap_base": self.fmap_base, "fmap_decay": self.fmap_decay,
                "fmap_max": self.fmap_max}

    def _check(self, level: int) -> int:
        _check_level(level)
        if level >= self.num_levels:
            raise ValueError(f"`level` must be < {self.num_levels} for resolution {self.resolution}. "
                             f"Received: level={level}")
        return level

    def generator(self, level: int, alpha: float = 1.0) -> keras.Model:
        """The generator of `level` (see `progressive_generator`)."""
        return progressive_generator(self._check(level), latent_dim=self.latent_dim, alpha=alpha,
                                     **self._networks())

    def critic(self, level: int, alpha: float = 1.0) -> keras.Model:
        """The critic of `level` (see `progressive_critic`)."""
        return progressive_critic(self._check(level), group_size=self.group_size, alpha=alpha, **self._networks())

    def grow(self, generator: keras.Model, critic: keras.Model) -> tuple[keras.Model, keras.Model]:
        """The networks of the next level with α = 0 and the trained weights of `generator` and `critic`.

        Args:
            generator: Generator of level L (its output size tells L).
            critic: Critic of level L.

        Returns:
            (generator, critic) of level L + 1, which at α = 0 compute what the inputs computed (upsampled).

        Raises:
            ValueError: if level L is already the last.
        """
        level = int(math.log2(generator.output.shape[1])) - 2
        new_generator, new_critic = self.generator(level + 1, alpha=0.0), self.critic(level + 1, alpha=0.0)
        transfer_weights(generator, new_generator)
        transfer_weights(critic, new_critic)
        return new_generator, new_critic

    def phase(self, images_seen: int) -> tuple[int, float]:
        """Level and fade-in α after `images_seen` real images, following the paper's schedule.

        Args:
            images_seen: Real images shown to the critic so far (≥ 0).

        Returns:
            (level, alpha): α < 1 only during a transition; after the last level, (num_levels − 1, 1.0).

        Example:
            >>> gan = progressive_gan(16, training_images=10, transition_images=10)
            >>> [gan.phase(n) for n in (0, 10, 15, 20, 30, 45, 100)]
            [(0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (2, 0.0), (2, 1.0), (2, 1.0)]
        """
        images_seen = check_int("images_seen", images_seen, minimum=0)
        if images_seen < self.training_images:
            return 0, 1.0
        period = self.transition_images + self.training_images
        level, within = divmod(images_seen - self.training_images, period)
        level += 1
        if level >= self.num_levels:
            return self.num_levels - 1, 1.0
        return level, min(within / self.transition_images, 1.0) if self.transition_images else 1.0


def progressive_gan(
    resolution: int = 1024,
    channels: int = 3,
    *,
    latent_dim: int | None = None,
    fmap_base: int = 8192,
    fmap_decay: float = 1.0,
    fmap_max: int = 512,
    group_size: int = 4,
    training_images: int = 600_000,
    transition_images: int = 600_000,
) -> ProgressiveGAN:
    """The Progressive GAN networks and growing schedule of the ALR paper's CelebA-HQ experiment.

    Train each level with `tf_lipschitz.recipes.progressive_wgan_alp` (WGAN + the ALP of Eq. (32), drift 0.001,
    n_critic = 1, Adam(1e-3, β = (0, 0.99), ε = 1e-8)).

    Args:
        resolution: Final resolution, a power of 2 ≥ 4 (1024 for CelebA-HQ).
        channels: Image channels.
        latent_dim: Latent size; default `feature_maps(0)` (512).
        fmap_base, fmap_decay, fmap_max: Width schedule, see `feature_maps`; shrink them for quick runs.
        group_size: Minibatch-stddev group size.
        training_images: Images per stabilization phase.
        transition_images: Images per fade-in phase.

    Returns:
        A `ProgressiveGAN`.

    Raises:
        ValueError: if `resolution` is not a power of 2 ≥ 4 or a size is not positive.

    Example:
        >>> gan = progressive_gan(32, fmap_base=64, fmap_max=16)
        >>> gan.resolutions, gan.latent_dim
        ((4, 8, 16, 32), 16)

    Reference:
        Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, appendix A.2, Eq. (32).
        Karras et al., "Progressive Growing of GANs", ICLR 2018.
    """
    resolution = check_int("resolution", resolution)
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"`resolution` must be a power of 2 >= 4. Received: resolution={resolution}")
    latent_dim = check_int("latent_dim", latent_dim or feature_maps(0, fmap_base, fmap_decay, fmap_max))
    group_size = check_int("group_size", group_size)
    training_images = check_int("training_images", training_images)
    transition_images = check_int("transition_images", transition_images, minimum=0)
    return ProgressiveGAN(
        resolution=resolution,
        channels=check_int("channels", channels),
        latent_dim=latent_dim,
        fmap_base=fmap_base,
        fmap_decay=fmap_decay,
        fmap_max=fmap_max,
        group_size=group_size,
        training_images=training_images,
        transition_images=transition_images,
    )

