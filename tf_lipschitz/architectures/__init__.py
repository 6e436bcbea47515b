"""Reference architectures of the papers' experiments.

- `resnet_generator` / `resnet_critic`: the WGAN-GP CIFAR-10 ResNet (WGAN-ALP, ALR paper section 5).
- `dcgan_generator` / `dcgan_critic`: the appendix-B nets of "How does Lipschitz regularization influence GAN
  training?" (32×32 and 64×64).
- `progressive_gan` and its networks and layers: Progressive GAN with the ALP of Eq. (32) (ALR appendix A.2).
- `conv_large`: VAT's ConvLarge classifier (ALR appendix A.3); `toy_mlp`: the 20-40-20 MLP (ALR section 4.2).

The critics take `conv_layer=` / `dense_layer=` ("plain", "spectral_norm", "toeplitz_norm", a class or a
factory) so the same net serves SN, Toeplitz normalization, GP and ALP.
"""

from tf_lipschitz.architectures._common import layer_factory
from tf_lipschitz.architectures.classifiers import conv_large, toy_mlp
from tf_lipschitz.architectures.dcgan import dcgan_critic, dcgan_generator
from tf_lipschitz.architectures.progressive import (
    ProgressiveGAN,
    feature_maps,
    progressive_critic,
    progressive_gan,
    progressive_generator,
    transfer_weights,
)
from tf_lipschitz.architectures import progressive_layers
from tf_lipschitz.architectures.progressive_layers import *  # noqa: F401,F403  (listed in progressive_layers.__all__)
from tf_lipschitz.architectures.resnet import resnet_critic, resnet_generator

__all__ = [
    "layer_factory",
    "resnet_generator",
    "resnet_critic",
    "dcgan_generator",
    "dcgan_critic",
    "progressive_gan",
    "ProgressiveGAN",
    "progressive_generator",
    "progressive_critic",
    "transfer_weights",
    "feature_maps",
    "conv_large",
    "toy_mlp",
    *progressive_layers.__all__,
]
