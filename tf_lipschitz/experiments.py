"""Compatibility: the experiment helpers moved to `tf_lipschitz.recipes` (presets, running) and
`tf_lipschitz.reporting` (tables, plots, CSV/JSON). This module re-exports both."""

from tf_lipschitz.recipes import *  # noqa: F401,F403
from tf_lipschitz.recipes import __all__ as _recipes
from tf_lipschitz.reporting import *  # noqa: F401,F403
from tf_lipschitz.reporting import __all__ as _reporting

__all__ = [*_recipes, *_reporting]
