"""Independent NumPy references shared by the tests: explicit Toeplitz matrices, SVD norms, and a small net with
its analytic input gradient."""

import math

import numpy as np
import tensorflow as tf


def toeplitz_matrix(kernel, height, width, strides=(1, 1), padding="same", dilation=(1, 1)):
    """Explicit matrix T with vec(conv(x)) = T vec(x), NHWC row-major, built with plain loops (TF's 'same' rule)."""
    kh, kw, cin, cout = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "valid":
        oh, ow = (height - ekh) // sh + 1, (width - ekw) // sw + 1
        top = left = 0
    else:
        oh, ow = math.ceil(height / sh), math.ceil(width / sw)
        top = max((oh - 1) * sh + ekh - height, 0) // 2
        left = max((ow - 1) * sw + ekw - width, 0) // 2
    t = np.zeros((oh * ow * cout, height * width * cin))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh + a * dh - top, j * sw + b * dw - left
                    if 0 <= r < height and 0 <= c < width:
                        for ci in range(cin):
                            rows = (i * ow + j) * cout + np.arange(cout)
                            t[rows, (r * width + c) * cin + ci] += kernel[a, b, ci, :]
    return t


def top_singular_value(matrix):
    return float(np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)[0])


def jacobian_matrix(f, input_shape, x=None):
    """Explicit matrix (output size × input size) of f's Jacobian at x (zeros by default), one sample, by autodiff.

    For a linear map this is the map's matrix; it comes from TensorFlow's own differentiation of the op, not from
    the library's code under test.
    """
    import tensorflow as tf

    x = tf.zeros((1,) + tuple(input_shape)) if x is None else tf.constant(x[None], tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = tf.reshape(f(x), (-1,))
    try:
        jac = tape.jacobian(y, x)
    except tf.errors.InvalidArgumentError:  # no batched kernel for an op on this CPU (oneDNN off): row by row
        jac = tape.jacobian(y, x, experimental_use_pfor=False)
    return jac.numpy().reshape(int(y.shape[0]), -1)


def gradient_ascent_lipschitz(f, x0, steps=100, learning_rate=0.05):
    """A lower bound of a scalar model's Lipschitz constant: max over a batch of ‖∇f(x)‖, after gradient ascent on it."""
    import keras
    import tensorflow as tf

    x = tf.Variable(x0, dtype=tf.float32)
    optimizer = keras.optimizers.Adam(learning_rate)
    best = 0.0
    for _ in range(steps):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = tf.reduce_sum(f(x, training=False))
            grad = inner.gradient(y, x)
            norms = tf.sqrt(tf.reduce_sum(tf.reshape(tf.square(grad), (x.shape[0], -1)), axis=1))
            loss = -tf.reduce_sum(norms)
        best = max(best, float(tf.reduce_max(norms)))
        optimizer.apply_gradients([(outer.gradient(loss, x), x)])
    return best


class TanhNet:
    """f(x) = tanh(x W1 + b1) w2, in TF (counting its calls) and in NumPy with its analytic input gradient."""

    def __init__(self, d_in=4, hidden=8, seed=0):
        rng = np.random.default_rng(seed)
        self.w1 = rng.normal(size=(d_in, hidden)).astype("float32")
        self.b1 = rng.normal(size=hidden).astype("float32")
        self.w2 = rng.normal(size=(hidden, 1)).astype("float32")
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return tf.tanh(x @ self.w1 + self.b1) @ self.w2

    def np(self, x):
        return np.tanh(x @ self.w1 + self.b1) @ self.w2

    def np_grad(self, x):
        return ((1.0 - np.tanh(x @ self.w1 + self.b1) ** 2) * self.w2[:, 0]) @ self.w1.T
