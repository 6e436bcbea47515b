"""The package surface (`tfl.<sub-package>`), the extras of setup.cfg and the ImportError of a missing extra."""

import configparser
import os
import subprocess
import sys
import textwrap

import pytest

import tf_lipschitz as tfl
from tf_lipschitz.foundations import optional as _optional

ROOT = os.path.join(os.path.dirname(__file__), "..")
SURFACE = ("layers", "penalties", "losses", "models", "callbacks", "evaluation", "ops", "convert", "constraints",
           "architectures", "toy", "recipes", "reporting", "contracts", "divergences", "unconstrained_wgan")


# Names of the surface whose concept lives inside a package of the layering (README, "Where things are").
HOMES = {"convert": "analysis.convert", "contracts": "foundations.contracts", "validation": "foundations.validation",
         "unconstrained_wgan": "penalties.unconstrained", "checkpoints": "training.checkpoints",
         "distribute": "training.distribute"}


def test_every_sub_package_is_an_attribute():
    for name in SURFACE:
        home = HOMES.get(name, name)
        assert getattr(tfl, name).__name__ == f"tf_lipschitz.{home}" and name in dir(tfl), name


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        tfl.no_such_thing  # noqa: B018


def test_extras_split_the_dependencies():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    core = {line.split("=")[0].split(">")[0].strip() for line in config["options"]["install_requires"].split("\n") if line}
    assert core == {"tensorflow", "keras", "numpy"}
    extras = {key: {line.split("=")[0].strip() for line in value.split("\n") if line}
              for key, value in config["options.extras_require"].items()}
    assert {"tensorflow-gan", "tensorflow-probability", "tf-keras", "tensorflow-hub"} <= extras["eval"]
    assert "tensorflow-datasets" in extras["data"] and "matplotlib" in extras["plots"] and "scipy" in extras["toy"]
    # "all" holds every extra, so the hint `or "tf-lipschitz[all]"` of `require` is true for cvxpy (sdp) too, and
    # SampleGrid's TensorBoard images need no package outside it.
    assert extras["all"] == {"tf-lipschitz[eval,data,plots,toy,sdp]"}
    # "test" and "docs" are the developers' tools, not features of the library.
    assert set(extras) - {"all", "test", "docs"} == {"eval", "data", "plots", "toy", "sdp"}
    assert "cvxpy" in extras["sdp"] and "tensorboard" in extras["plots"]
    assert {"mkdocs>", "mkdocs-material>", "mkdocstrings[python]>"} == {name[:name.index(">") + 1] for name in extras["docs"]}


def test_require_names_the_extra_of_a_missing_module(monkeypatch):
    for name in ("matplotlib", "matplotlib.pyplot", "PIL", "PIL.Image", "scipy", "scipy.optimize"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now fails as if it were not installed
    with pytest.raises(ImportError, match=r'matplotlib is needed here but not installed: pip install "tf-lipschitz\[plots\]"'):
        _optional.require("matplotlib.pyplot", extra="plots")
    with pytest.raises(ImportError, match=r"pillow .*tf-lipschitz\[plots\]"):
        tfl.callbacks.SampleGrid(1, "a.png")
    with pytest.raises(ImportError, match=r"scipy .*tf-lipschitz\[toy\]"):
        tfl.toy.exact_w1([[0.0, 0.0]], [[1.0, 1.0]])
    with pytest.raises(ImportError, match=r"matplotlib .*tf-lipschitz\[plots\]"):
        tfl.reporting.line_plot("never_written.png", {}, xlabel="x", ylabel="y")


_BLOCKED = ("matplotlib", "scipy", "PIL", "tqdm", "tensorflow_datasets", "tensorflow_hub", "tensorflow_probability",
            "tensorflow_gan", "tf_keras")


def test_core_works_without_any_extra():
    """In a fresh interpreter where every optional package fails to import, the core trains a WGAN-ALP with
    the Lipschitz and domain monitors, and `tfl.evaluation` says which extra to install."""
    script = textwrap.dedent(f"""
        import sys
        for name in {_BLOCKED!r}:
            sys.modules[name] = None
        import numpy as np, keras
        import tf_lipschitz as tfl
        gen = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        critic = keras.Sequential([keras.Input((2,)), tfl.SpectralNormDense(4, activation="relu"),
                                   tfl.SpectralNormDense(1)])
        gan = tfl.models.WGANALP(gen, critic, latent_dim=2, n_critic=1, penalty_kwargs={{"xi": 1.0, "epsilon": 0.1}})
        gan.compile()
        x = np.random.default_rng(0).normal(size=(32, 2)).astype("float32")
        callbacks = [tfl.callbacks.LipschitzMonitor(x[:8], every_n_steps=1, xi=1.0, epsilon=0.1),
                     tfl.callbacks.DomainRangeLogger(1, real_data=x[:8], plot_path=None, table_path=None)]
        history = gan.fit(x, batch_size=16, epochs=1, verbose=0, callbacks=callbacks).history
        assert "lipschitz_gradient_max" in history and "omega_min" in history, sorted(history)
        try:
            tfl.evaluation
        except ImportError as err:
            print("ImportError:", err)
    """)
    env = {**os.environ, "PYTHONPATH": os.path.abspath(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'ImportError: tqdm is needed here but not installed: pip install "tf-lipschitz[eval]"' in result.stdout


def test_imports_follow_the_declared_layers():
    # setup.cfg's [importlinter] contracts: one way down, no circle inside any package (CI runs the same check).
    pytest.importorskip("importlinter")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--config", os.path.join(root, "setup.cfg")],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout
