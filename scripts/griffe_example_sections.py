"""Griffe extension for the API reference: the library's Keras-style `Example:` sections are doctest examples.

The docstrings follow Keras and name their doctest section `Example:`; griffe's Google-style parser knows only
`Examples:` as code and would render `Example:` as an admonition with the `>>>` lines as nested quotes. This
extension renames the section header before parsing, nothing else. `mkdocs.yml` lists it under the Python
handler's `extensions`.
"""

from __future__ import annotations

import re

import griffe

_EXAMPLE_HEADER = re.compile(r"^(\s*)Example:[ \t]*$", flags=re.M)


class ExampleSections(griffe.Extension):
    """Renames each `Example:` section header of a docstring to `Examples:`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE_HEADER.sub(r"\1Examples:", obj.docstring.value)
