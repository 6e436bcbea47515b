"""Lipschitz layers: spectral-normalized Dense/Conv2D, Toeplitz-normalized convolutions of every kind, and the
1-Lipschitz layers for classifiers (AOL, SLL, L2-norm pooling, invertible down-sampling)."""

from tf_lipschitz.layers.aol import AOLConv2D, AOLDense
from tf_lipschitz.layers.base import (
    LipschitzLayer,
    NormalizedKernelMixin,
    advance_power_iteration,
    converge_power_iteration,
    lipschitz_layers,
    power_iteration_frozen,
    power_iteration_gap,
)
from tf_lipschitz.layers.export import PlainExportMixin
from tf_lipschitz.layers.operator_norm import (
    ToeplitzNormConv1D,
    ToeplitzNormConv2DTranspose,
    ToeplitzNormConv3D,
    ToeplitzNormDepthwiseConv2D,
    ToeplitzNormSeparableConv2D,
)
from tf_lipschitz.layers.groupsort import GroupSort, group_sort
from tf_lipschitz.layers.pooling import GlobalL2NormPooling2D, InvertibleDownSampling, L2NormPooling2D
from tf_lipschitz.layers.orthonormal import OrthonormalDense, bjorck_orthonormalize
from tf_lipschitz.layers.sll import SLLConv2D, SLLDense
from tf_lipschitz.layers.spectral_norm import SpectralNormConv2D, SpectralNormDense
from tf_lipschitz.layers.toeplitz_norm import ToeplitzNormConv2D

__all__ = [
    "LipschitzLayer",
    "NormalizedKernelMixin",
    "SpectralNormDense",
    "SpectralNormConv2D",
    "ToeplitzNormConv2D",
    "ToeplitzNormConv1D",
    "ToeplitzNormConv3D",
    "ToeplitzNormDepthwiseConv2D",
    "ToeplitzNormSeparableConv2D",
    "ToeplitzNormConv2DTranspose",
    "PlainExportMixin",
    "AOLDense", "AOLConv2D", "SLLDense", "SLLConv2D",
    "L2NormPooling2D", "GlobalL2NormPooling2D", "InvertibleDownSampling",
    "GroupSort", "group_sort", "OrthonormalDense", "bjorck_orthonormalize",
    "advance_power_iteration",
    "converge_power_iteration",
    "power_iteration_gap",
    "lipschitz_layers",
    "power_iteration_frozen",
]
