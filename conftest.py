"""Names the docstring examples take as given (`np`, `tf`, `keras`), as NumPy's and Keras' docs do; and the kernel set.

TensorFlow turns its oneDNN kernels on for some CPUs only; without them some ops do not exist (NCHW Conv2D, a grouped
convolution's vectorized input gradient). The suite runs on the smaller set every CPU has, unless the caller chose
(`TF_ENABLE_ONEDNN_OPTS=1 pytest` checks the other set). Set before TensorFlow is imported; xdist workers inherit it.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, tf=tf, keras=keras)
