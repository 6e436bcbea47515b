"""Every Lipschitz bound and estimate of a network, and conversion to and from Lipschitz layers.

- `bounds`: true upper bounds following a model's graph (`lipschitz_upper_bound`, `layer_lipschitz_bound`,
  `model_bound`, `layer_bound`).
- `estimation`: the empirical and searched lower bounds (`empirical_lipschitz`, `lipschitz_lower_bound`), LipSDP
  (`lipsdp`) and the one entry point bracketing ‖f‖_L (`estimate_lipschitz`).
- `convert`: `lipschitz_clone` (a model rebuilt with Lipschitz layers) and `export_plain` (back to plain layers).
"""

from tf_lipschitz.analysis.bounds import layer_lipschitz_bound, lipschitz_upper_bound
from tf_lipschitz.analysis.convert import export_plain, lipschitz_clone
from tf_lipschitz.analysis.estimation import empirical_lipschitz, estimate_lipschitz, lipschitz_lower_bound, lipsdp

__all__ = [
    "layer_lipschitz_bound",
    "lipschitz_upper_bound",
    "empirical_lipschitz",
    "lipschitz_lower_bound",
    "lipsdp",
    "estimate_lipschitz",
    "lipschitz_clone",
    "export_plain",
]
