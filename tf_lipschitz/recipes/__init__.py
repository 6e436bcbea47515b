"""Recipes: the papers' presets, used by `tf-lipschitz train` and the examples, one module per concept.

- `gans`: GAN models by name (`MODELS`, `make_gan`) and the 2-D toy problems' ALP units (`TOY_ALP`);
- `networks`: the 2-D toy networks and the DCGAN-style image nets (`toy_networks`, `image_networks`);
- `optimizers`: Adam with the papers' linear decay (`adam_optimizers`);
- `progressive`: the Progressive GAN + ALP setup of the ALR paper's appendix A.2 (`progressive_wgan_alp`,
  `progressive_schedule`; its hyper-parameters `PROGRESSIVE_ALP` live with the architecture);
- `runs`: running an experiment: shared flags (`add_run_arguments`), seeding (`seed_everything`), local image
  data (`load_image_data`) and a resumable run with a wall clock (`fit_schedule`, `run_training`).

Imports run one way: recipes build on `models`, `architectures`, `data` and `training`; only the commands import
the recipes. Reports (tables, plots, JSON) are in `tf_lipschitz.reporting`.

Reference:
    Terjék, "Adversarial Lipschitz Regularization", ICLR 2020, section 5 and appendix A.2.
    "How does Lipschitz regularization influence GAN training?", appendix B.
"""

from tf_lipschitz.architectures.progressive import PROGRESSIVE_ALP
from tf_lipschitz.recipes.gans import MODELS, TOY_ALP, make_gan
from tf_lipschitz.recipes.networks import image_networks, toy_networks
from tf_lipschitz.recipes.optimizers import adam_optimizers
from tf_lipschitz.recipes.progressive import progressive_schedule, progressive_wgan_alp
from tf_lipschitz.recipes.runs import add_run_arguments, fit_schedule, load_image_data, run_training, seed_everything

__all__ = [
    "MODELS",
    "TOY_ALP",
    "PROGRESSIVE_ALP",
    "make_gan",
    "toy_networks",
    "image_networks",
    "adam_optimizers",
    "progressive_wgan_alp",
    "progressive_schedule",
    "load_image_data",
    "add_run_arguments",
    "seed_everything",
    "fit_schedule",
    "run_training",
]
