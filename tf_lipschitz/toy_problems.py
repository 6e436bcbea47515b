"""Compatibility: the ring toy problem moved to `tf_lipschitz.toy.ring` (also exported by `tf_lipschitz.toy`)."""

from tf_lipschitz.toy.ring import *  # noqa: F401,F403
from tf_lipschitz.toy.ring import __all__  # noqa: F401
