"""Independent NumPy references shared by the tests: explicit Toeplitz matrices and SVD norms."""

import math

import numpy as np


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
