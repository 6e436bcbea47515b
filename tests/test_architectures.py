"""Reference architectures: the published layer lists and parameter counts, Lipschitz-layer swaps, the
Progressive GAN layers against NumPy re-derivations, fade-in limits and a `.keras` round trip."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_lipschitz.architectures import (
    EqualizedConv2D,
    EqualizedDense,
    FadeIn,
    MinibatchStdDev,
    PixelNormalization,
    conv_large,
    dcgan_critic,
    dcgan_generator,
    feature_maps,
    layer_factory,
    progressive_critic,
    progressive_gan,
    progressive_generator,
    resnet_critic,
    resnet_generator,
    set_fade_in,
    toy_mlp,
    transfer_weights,
)
from tf_lipschitz.layers import SpectralNormConv2D, SpectralNormDense, ToeplitzNormConv2D

TINY = {"fmap_base": 16, "fmap_max": 8}  # Progressive GAN widths 8, 8, 4, …


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def assert_gradients_flow(model, x, training=True):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x, training=training))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)


# ------------------------------------------------------------------------------------------------ ResNet
def test_resnet_defaults_pin_the_wgan_gp_cifar_architecture():
    g, d = resnet_generator(), resnet_critic()
    # Dense 128→4·4·128, 3 up-blocks (2 BN, two 3×3 convs, 1×1 shortcut), BN, 3×3 conv to RGB.
    block = 2 * 256 + 2 * (9 * 128 * 128 + 128) + (128 * 128 + 128)
    assert trainable_count(g) == (128 * 2048 + 2048) + 3 * block + 256 + (9 * 128 * 3 + 3) == 1_204_483
    # Optimized block (3→128), down block with 1×1 shortcut, two identity-shortcut blocks, dense 128→1.
    conv3 = 9 * 128 * 128 + 128
    first = (3 * 128 + 128) + (9 * 3 * 128 + 128) + conv3
    assert d.count_params() == first + (2 * conv3 + 128 * 128 + 128) + 2 * 2 * conv3 + 129 == 1_053_825
    assert g.output.shape[1:] == (32, 32, 3) and g.input.shape[1:] == (128,)
    assert {layer.filters for layer in layers_of(g, keras.layers.Conv2D)} == {128, 3}
    assert {layer.filters for layer in layers_of(d, keras.layers.Conv2D)} == {128}
    assert len(layers_of(g, keras.layers.BatchNormalization)) == 7
    assert len(layers_of(g, keras.layers.UpSampling2D)) == 6  # residual and shortcut of each up-block
    assert all(layer.interpolation == "nearest" for layer in layers_of(g, keras.layers.UpSampling2D))
    assert not layers_of(d, keras.layers.BatchNormalization) and not layers_of(d, keras.layers.LayerNormalization)
    # Mean pooling: 2 in the optimized block, 2 in the down block; identity shortcuts in blocks 3 and 4.
    assert len(layers_of(d, keras.layers.AveragePooling2D)) == 4
    assert [layer.name for layer in d.layers if "shortcut_conv" in layer.name] == [
        "block1_shortcut_conv", "block2_shortcut_conv"]
    assert d.get_layer("block4_add").output.shape[1:] == (8, 8, 128)


def test_resnet_generator_output_is_tanh_bounded():
    g = resnet_generator(latent_dim=8, width=8)
    out = g(np.random.default_rng(0).normal(size=(4, 8)).astype("float32") * 50, training=True)
    assert out.shape == (4, 32, 32, 3)
    assert np.all(np.abs(out) <= 1.0) and np.max(np.abs(out)) > 0.5


@pytest.mark.parametrize(
    "conv_layer, dense_layer, cls, k_sn",
    [
        (SpectralNormConv2D, "spectral_norm", SpectralNormConv2D, 2.0),
        ("toeplitz_norm", SpectralNormDense, ToeplitzNormConv2D, 0.5),
    ],
)
def test_resnet_critic_accepts_lipschitz_layers(conv_layer, dense_layer, cls, k_sn):
    d = resnet_critic(width=4, conv_layer=conv_layer, dense_layer=dense_layer, k_sn=k_sn, power_iterations=2)
    convs = [layer for layer in d.layers if "conv" in layer.name]
    assert len(convs) == 10 and all(isinstance(layer, cls) for layer in convs)
    assert all(layer.k_sn == k_sn and layer.power_iterations == 2 for layer in convs)
    assert d.get_layer("output_dense").k_sn == k_sn
    assert isinstance(d.get_layer("output_dense"), SpectralNormDense)
    assert_gradients_flow(d, np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))


def test_resnet_critic_accepts_a_factory_and_rejects_bad_arguments():
    made = []

    def factory(filters, kernel_size, **kwargs):
        made.append(filters)
        return keras.layers.Conv2D(filters, kernel_size, **kwargs)

    resnet_critic(width=4, conv_layer=factory)
    assert made == [4] * 10
    with pytest.raises(ValueError, match="conv_layer"):
        resnet_critic(width=4, conv_layer="weight_clip")
    with pytest.raises(ValueError, match="resolution"):
        resnet_critic(width=4, resolution=30)
    with pytest.raises(ValueError, match="width"):
        resnet_generator(width=0)


# ------------------------------------------------------------------------------------------------- DCGAN
def layer_table(model, cls):
    return [(layer.kernel_size, layer.strides, layer.filters) for layer in layers_of(model, cls)]


@pytest.mark.parametrize(
    "resolution, generator_table, critic_table, critic_strides",
    [
        (64, [512, 256, 128, 64, 3], [64, 128, 256, 512, 1], [2, 2, 2, 2, 2]),
        (32, [256, 128, 64, 3], [64, 128, 256, 1], [2, 2, 2, 1]),
    ],
)
def test_dcgan_layer_lists_match_appendix_b(resolution, generator_table, critic_table, critic_strides):
    g, d = dcgan_generator(resolution), dcgan_critic(resolution, k_sn=1.0)
    assert g.input.shape[1:] == (100,)
    assert layer_table(g, keras.layers.Conv2DTranspose) == [
        ((4, 4), (1, 1) if i == 0 else (2, 2), f) for i, f in enumerate(generator_table)]
    assert len(layers_of(g, keras.layers.BatchNormalization)) == len(generator_table) - 1
    assert g.layers[-1].activation is keras.activations.tanh
    assert layer_table(d, SpectralNormConv2D) == [((4, 4), (s, s), f) for s, f in zip(critic_strides, critic_table)]
    assert [layer.negative_slope for layer in layers_of(d, keras.layers.LeakyReLU)] == [0.2] * (len(critic_table) - 1)
    assert not layers_of(d, keras.layers.BatchNormalization)
    assert d.output.shape[1:] == (1,) and g.output.shape[1:] == (resolution, resolution, 3)


def test_dcgan_parameter_counts():
    g32, d32 = dcgan_generator(32), dcgan_critic(32, spectral_norm=False)
    assert trainable_count(g32) == 16 * (100 * 256 + 256 * 128 + 128 * 64 + 64 * 3) + 3 + 2 * (256 + 128 + 64)
    assert trainable_count(g32) == 1_068_931
    assert d32.count_params() == 662_977
    assert trainable_count(dcgan_generator(64)) == 3_576_707
    assert dcgan_critic(64, spectral_norm=False).count_params() == 2_764_737


def test_dcgan_small_widths_mnist_channels_and_plain_critic():
    g = dcgan_generator(32, latent_dim=16, channels=1, width=4)
    z = np.random.default_rng(2).normal(size=(3, 16)).astype("float32") * 30
    images = g(z, training=True)
    assert images.shape == (3, 32, 32, 1) and np.all(np.abs(images) <= 1.0)
    d = dcgan_critic(32, channels=1, spectral_norm=False, width=4)
    assert all(type(layer) is keras.layers.Conv2D for layer in d.layers if "conv" in layer.name)
    d_bn = dcgan_critic(64, width=2, spectral_norm=False, batch_norm=True)
    assert len(layers_of(d_bn, keras.layers.BatchNormalization)) == 4
    d_sn = dcgan_critic(32, 5.0, channels=1, width=4)
    assert {layer.k_sn for layer in layers_of(d_sn, SpectralNormConv2D)} == {5.0}
    assert_gradients_flow(d_sn, images)


def test_dcgan_critic_with_toeplitz_layers_runs():
    d = dcgan_critic(32, width=2, conv_layer=ToeplitzNormConv2D, k_sn=1.0)
    assert len(layers_of(d, ToeplitzNormConv2D)) == 4
    assert_gradients_flow(d, np.zeros((2, 32, 32, 3), "float32") + 0.1)


def test_dcgan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="resolution"):
        dcgan_generator(48)
    with pytest.raises(ValueError, match="resolution"):
        dcgan_critic(128)
    with pytest.raises(ValueError, match="k_sn"):
        dcgan_critic(32, k_sn=0.0, width=2)
    with pytest.raises(ValueError, match="kind"):
        layer_factory("plain", "conv3d")


# ---------------------------------------------------------------------------------- Progressive GAN layers
def test_pixel_normalization_matches_formula():
    x = np.random.default_rng(3).normal(size=(2, 3, 3, 5)).astype("float32")
    expected = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(PixelNormalization()(x), expected, rtol=1e-5)
    assert np.allclose(np.mean(np.asarray(PixelNormalization()(x)) ** 2, axis=-1), 1.0, atol=1e-5)


def numpy_minibatch_stddev(x, group_size):
    n = x.shape[0]
    g = min(group_size, n)
    m = n // g
    feature = np.empty(n)
    for j in range(m):
        members = x[j::m]  # sample i is in group i mod m
        std = np.sqrt(members.var(axis=0) + 1e-8)
        feature[j::m] = std.mean()
    return np.concatenate([x, np.broadcast_to(feature[:, None, None, None], x.shape[:3] + (1,))], axis=-1)


@pytest.mark.parametrize("batch, group_size", [(8, 4), (3, 4), (6, 2)])
def test_minibatch_stddev_matches_numpy(batch, group_size):
    x = np.random.default_rng(4).normal(size=(batch, 4, 4, 3)).astype("float32")
    layer = MinibatchStdDev(group_size)
    np.testing.assert_allclose(layer(x), numpy_minibatch_stddev(x, group_size), rtol=1e-5, atol=1e-6)
    graph_call = tf.function(layer, input_signature=[tf.TensorSpec((None, 4, 4, 3))])
    np.testing.assert_allclose(graph_call(x), numpy_minibatch_stddev(x, group_size), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 4, 4, 3)) == (None, 4, 4, 4)


def numpy_conv_same(x, kernel):
    kh, kw, _, c_out = kernel.shape
    ph, pw = kh // 2, kw // 2
    padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    n, h, w, _ = x.shape
    out = np.zeros((n, h, w, c_out))
    for i in range(h):
        for j in range(w):
            out[:, i, j] = np.einsum("nabc,abcd->nd", padded[:, i:i + kh, j:j + kw], kernel)
    return out


def test_equalized_layers_scale_weights_by_he_constant_at_run_time():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 6)).astype("float32")
    dense = EqualizedDense(4)
    y = dense(x)
    assert dense.scale == pytest.approx(math.sqrt(2.0 / 6))
    kernel = np.asarray(dense.kernel)
    assert abs(kernel.std() - 1.0) < 0.5 and np.all(np.asarray(dense.bias) == 0)  # stored at unit scale
    np.testing.assert_allclose(y, x @ (kernel * math.sqrt(2.0 / 6)), rtol=1e-5, atol=1e-6)

    images = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    conv = EqualizedConv2D(2, 3, gain=1.0, activation="relu")
    conv.build(images.shape)
    conv.bias.assign([0.5, -0.5])
    expected = np.maximum(numpy_conv_same(images, np.asarray(conv.kernel) / math.sqrt(27)) + [0.5, -0.5], 0)
    np.testing.assert_allclose(conv(images), expected, rtol=1e-4, atol=1e-5)
    assert EqualizedConv2D(2, 1).compute_output_shape((None, 5, 5, 3)) == (None, 5, 5, 2)


def test_custom_layers_validate_and_round_trip_their_config():
    for layer in (PixelNormalization(epsilon=1e-6), MinibatchStdDev(group_size=2),
                  EqualizedDense(3, gain=1.0, activation="relu"), EqualizedConv2D(2, 1, use_bias=False),
                  FadeIn(alpha=0.25)):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    for bad in (lambda: EqualizedConv2D(2, 2), lambda: EqualizedDense(0), lambda: MinibatchStdDev(0),
                lambda: PixelNormalization(epsilon=0), lambda: FadeIn(alpha=1.5), lambda: EqualizedDense(2, gain=-1)):
        with pytest.raises(ValueError):
            bad()


def test_fade_in_layer_and_set_fade_in():
    old, new = np.zeros((1, 2), "float32"), np.full((1, 2), 4.0, "float32")
    fade = FadeIn(alpha=0.0)
    assert np.all(fade([old, new]) == 0.0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    assert set_fade_in(model, 0.5) == 0
    with pytest.raises(ValueError, match="alpha"):
        set_fade_in(model, -0.1)


# ------------------------------------------------------------------------------ Progressive GAN networks
def test_progressive_networks_shapes_and_widths():
    assert [feature_maps(s) for s in range(10)] == [512] * 5 + [256, 128, 64, 32, 16]
    g = progressive_generator(2, latent_dim=8, **TINY)
    d = progressive_critic(2, **TINY)
    assert g.output.shape[1:] == (16, 16, 3) and d.output.shape[1:] == (1,)
    assert g.get_layer("g_16x16_conv1").filters == feature_maps(3, **TINY) == 2
    assert isinstance(d.get_layer("d_4x4_stddev"), MinibatchStdDev)
    assert d.get_layer("d_4x4_conv").input.shape[-1] == feature_maps(1, **TINY) + 1
    assert len(layers_of(g, PixelNormalization)) == 1 + 2 + 2 * 2
    assert g.get_layer("g_4x4_dense").gain == pytest.approx(math.sqrt(2) / 4)
    assert g.get_layer("g_to_rgb_16x16").gain == 1.0 and d.get_layer("d_4x4_dense1").gain == 1.0
    z = np.random.default_rng(6).normal(size=(4, 8)).astype("float32")
    assert g(z).shape == (4, 16, 16, 3)
    assert_gradients_flow(d, np.asarray(g(z)))


def test_generator_fade_in_limits():
    g0 = progressive_generator(0, latent_dim=8, **TINY)
    g1 = progressive_generator(1, latent_dim=8, alpha=0.0, **TINY)
    copied = transfer_weights(g0, g1)
    assert copied == ["g_4x4_dense", "g_4x4_conv", "g_to_rgb_4x4"]
    z = np.random.default_rng(7).normal(size=(3, 8)).astype("float32")
    low = np.repeat(np.repeat(np.asarray(g0(z)), 2, axis=1), 2, axis=2)
    np.testing.assert_allclose(g1(z), low, rtol=1e-5, atol=1e-6)  # α = 0: the old net, upsampled
    set_fade_in(g1, 1.0)
    new_path = keras.Model(g1.input, g1.get_layer("g_to_rgb_8x8").output)
    np.testing.assert_allclose(g1(z), new_path(z), rtol=1e-5, atol=1e-6)  # α = 1: the new block alone
    set_fade_in(g1, 0.25)
    np.testing.assert_allclose(g1(z), 0.75 * low + 0.25 * np.asarray(new_path(z)), rtol=1e-5, atol=1e-5)


def test_critic_fade_in_limits():
    d0 = progressive_critic(0, **TINY)
    d1 = progressive_critic(1, alpha=0.0, **TINY)
    assert set(transfer_weights(d0, d1)) == {"d_from_rgb_4x4", "d_4x4_conv", "d_4x4_dense0", "d_4x4_dense1"}
    x = np.random.default_rng(8).normal(size=(4, 8, 8, 3)).astype("float32")
    pooled = x.reshape(4, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(d1(x), d0(pooled), rtol=1e-5, atol=1e-5)  # α = 0: old critic, downscaled
    set_fade_in(d1, 1.0)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(d1(x), d0(pooled), rtol=1e-3)


def test_progressive_gan_setup_schedule_and_grow():
    gan = progressive_gan(16, latent_dim=8, training_images=100, transition_images=50, **TINY)
    assert gan.resolutions == (4, 8, 16) and gan.num_levels == 3
    assert gan.lipschitz_gan_kwargs == {
        "latent_dim": 8, "loss": "wgan", "penalty": "alp", "penalty_weight": 0.1, "regularize": "both",
        "n_critic": 1, "drift": 0.001, "both_reduction": "sum", "generator_batch_multiplier": 1,
        "generator_ema": 0.999}
    assert gan.penalty_kwargs == {"reduction": "squared+abs", "epsilon": (0.1, 100.0), "xi": 10.0,
                                   "power_iterations": 1, "K": 1.0}
    assert gan.optimizer_kwargs["beta_2"] == 0.99
    assert [gan.phase(n) for n in (0, 99, 100, 125, 150, 250, 275, 400, 10 ** 6)] == [
        (0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (2, 0.0), (2, 0.5), (2, 1.0), (2, 1.0)]
    defaults = progressive_gan()
    assert defaults.resolutions[-1] == 1024 and defaults.latent_dim == 512 and defaults.training_images == 600_000
    g0, d0 = gan.generator(0), gan.critic(0)
    g1, d1 = gan.grow(g0, d0)
    assert g1.output.shape[1:] == (8, 8, 3) and float(g1.get_layer("g_fade_in").alpha) == 0.0
    np.testing.assert_array_equal(g1.get_layer("g_4x4_conv").kernel, g0.get_layer("g_4x4_conv").kernel)
    np.testing.assert_array_equal(d1.get_layer("d_4x4_dense0").kernel, d0.get_layer("d_4x4_dense0").kernel)
    with pytest.raises(ValueError, match="level"):
        gan.generator(3)
    with pytest.raises(ValueError, match="resolution"):
        progressive_gan(48)


def test_progressive_models_keras_round_trip(tmp_path):
    g = progressive_generator(1, latent_dim=8, alpha=0.3, **TINY)
    d = progressive_critic(1, alpha=0.6, **TINY)
    z = np.random.default_rng(9).normal(size=(4, 8)).astype("float32")
    images = np.asarray(g(z))
    for model, x in ((g, z), (d, images)):
        path = str(tmp_path / f"{model.name}.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, atol=1e-6)
    loaded_g = keras.saving.load_model(str(tmp_path / f"{g.name}.keras"))
    assert float(loaded_g.get_layer("g_fade_in").alpha) == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------- Classifiers
def test_conv_large_structure():
    model = conv_large()
    convs = layers_of(model, keras.layers.Conv2D)
    assert [(c.kernel_size[0], c.filters, c.padding) for c in convs] == (
        [(3, 128, "same")] * 3 + [(3, 256, "same")] * 3 + [(3, 512, "valid"), (1, 256, "same"), (1, 128, "same")])
    assert len(layers_of(model, keras.layers.BatchNormalization)) == 9
    assert [d.rate for d in layers_of(model, keras.layers.Dropout)] == [0.5, 0.5]
    assert {a.negative_slope for a in layers_of(model, keras.layers.LeakyReLU)} == {0.1}
    assert trainable_count(model) == 3_121_802
    small = conv_large(width=4, noise_stddev=0.15, top_batch_norm=True)
    assert small(np.zeros((2, 32, 32, 3), "float32"), training=True).shape == (2, 10)
    with pytest.raises(ValueError, match="dropout"):
        conv_large(dropout=1.0)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_toy_mlp_is_20_40_20(batch_norm):
    model = toy_mlp(batch_norm=batch_norm)
    assert [layer.units for layer in layers_of(model, keras.layers.Dense)] == [20, 40, 20, 1]
    names = [layer.name for layer in model.layers[1:]]
    if batch_norm:
        assert names[:3] == ["dense1", "bn1", "relu1"] and len(layers_of(model, keras.layers.BatchNormalization)) == 3
    else:
        assert names[:2] == ["dense1", "relu1"] and not layers_of(model, keras.layers.BatchNormalization)
    assert model(np.zeros((5, 2), "float32")).shape == (5, 1)


def test_toy_mlp_spectral_norm_variant():
    model = toy_mlp(spectral_norm=True, k_sn=0.5, power_iterations=3)
    sn = layers_of(model, SpectralNormDense)
    assert len(sn) == 4 and {(layer.k_sn, layer.power_iterations) for layer in sn} == {(0.5, 3)}
    assert_gradients_flow(model, np.random.default_rng(10).uniform(-4, 4, (8, 2)).astype("float32"))
    with pytest.raises(ValueError, match="k_sn"):
        toy_mlp(spectral_norm=True, k_sn=-1.0)


def test_set_fade_in_reaches_nested_models():
    inner = progressive_generator(1, latent_dim=4, alpha=0.0, **TINY)
    outer = keras.Sequential([keras.Input((4,)), inner])
    assert set_fade_in(outer, 0.75) == 1
    assert float(inner.get_layer("g_fade_in").alpha) == 0.75


def test_spectral_normalized_nets_keep_their_promise():
    """With converged power iterations, the SN toy MLP is 1-Lipschitz and the SN DCGAN critic k_sn^n·√n-bounded."""
    from tf_lipschitz.analysis import empirical_lipschitz

    rng = np.random.default_rng(11)
    mlp = toy_mlp(spectral_norm=True, k_sn=1.0, power_iterations=100)
    mlp(np.zeros((1, 2), "float32"), training=True)  # converge σ once
    assert empirical_lipschitz(mlp, rng.uniform(-4, 4, (64, 2)).astype("float32")) <= 1.0 + 1e-3
    critic = dcgan_critic(32, 1.0, width=2, power_iterations=100)
    critic(np.zeros((1, 32, 32, 3), "float32"), training=True)
    # The reshaped-kernel norm bounds a 4×4 stride-2 conv up to √4 = 2 and the stride-1 one up to 4 (Tsuzuku).
    assert empirical_lipschitz(critic, rng.uniform(-1, 1, (4, 32, 32, 3)).astype("float32")) <= 2 ** 3 * 4
