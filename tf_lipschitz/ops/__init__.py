"""The math below the layers: power iteration, operator norms and the Lipschitz constants of plain Keras layers.

- `power_iteration`: the one power-iteration helper of the library and the operators it runs on (matrices,
  convolutions and their adjoints), `spectral_norm`, `conv_operator_norm`, the reshaped-kernel bound.
- `certified`: certified NumPy norms (exact matrix norms, the Fourier bound of a convolution, pooling matrices).
- `layer_norms`: the Lipschitz constant of each plain Keras layer and activation, built on `certified`.

Bounds and estimates of whole networks live one layer up, in `tf_lipschitz.analysis`.
"""

from tf_lipschitz.ops.power_iteration import (
    check_padding,
    check_pair,
    check_power_iterations,
    conv_operator,
    conv_operator_norm,
    conv_transpose,
    kernel_matrix,
    l2_normalize,
    linear_adjoint,
    power_iteration,
    reshaped_kernel_bound,
    reshaped_kernel_factor,
    spectral_norm,
)

__all__ = [
    "check_pair",
    "l2_normalize",
    "check_power_iterations",
    "check_padding",
    "power_iteration",
    "spectral_norm",
    "conv_operator_norm",
    "conv_transpose",
    "conv_operator",
    "linear_adjoint",
    "reshaped_kernel_bound",
    "reshaped_kernel_factor",
    "kernel_matrix",
]
