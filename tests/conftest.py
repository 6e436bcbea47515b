"""Shared test set-up: quiet TensorFlow, 2 logical CPU devices for distribution tests, seeded Keras."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework import config as tf_config  # noqa: E402

# Two logical CPUs so MirroredStrategy tests have two replicas; must run before TF initializes devices.
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:
    pass

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    # Op determinism is process-wide (the train command turns it on) and makes Keras silently drop jit_compile.
    tf_config.disable_op_determinism()


@pytest.fixture
def mnist_path():
    """Path of ../shared/data/mnist/mnist.npz; skips the test when absent."""
    path = os.path.abspath(os.path.join(SHARED_DATA, "mnist", "mnist.npz"))
    if not os.path.exists(path):
        pytest.skip(f"real data not found at {path}")
    return path


def pytest_collection_modifyitems(items):
    """Test files holding a `slow` test run first, so that the two xdist workers (one file at a time, in
    collection order) finish together instead of one running the longest files alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: the order within each group is kept
