"""Names the docstring examples take as given (`np`, `tf`, `keras`), as NumPy's and Keras' docs do."""

import keras
import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, tf=tf, keras=keras)
