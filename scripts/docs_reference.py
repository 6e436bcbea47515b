"""MkDocs hook: the API reference, one page per package of `tf_lipschitz`, generated from the source tree.

Every package (a folder with `__init__.py`) and every public top-level module gets a page
`reference/<dotted name>.md`, rendered by mkdocstrings. A package's page shows what its `__init__` exports
(`__all__`), then, for each public module inside it, the public names that the package does not re-export, so that
every public class, function and constant of the library appears. The tree is read by griffe, the loader
mkdocstrings itself uses (static analysis: building the docs imports no TensorFlow).

`mkdocs.yml` names this file under `hooks:`. The nav's "API reference" section is filled in here, so a new package
appears in the reference without editing the configuration; `tests/test_docs_code.py` checks with
`public_objects()` and `reference_pages()` that nothing public is left out.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

import griffe

PACKAGE = "tf_lipschitz"
ROOT = pathlib.Path(__file__).resolve().parent.parent
NAV_TITLE = "API reference"
_HIDE_ROOT = ["    options:", "      show_root_heading: false", "      show_root_toc_entry: false"]


@dataclass
class ReferencePage:
    """One generated page: a package or top-level module, and the inner modules whose extra names it renders."""

    name: str  # dotted name of the package or module
    members: list[str] | None  # the names rendered under it; None renders its docstring only
    modules: dict[str, list[str]] = field(default_factory=dict)  # inner module -> names the package lacks

    @property
    def path(self) -> str:
        return f"reference/{self.name}.md"

    def markdown(self) -> str:
        members = "false" if self.members is None else f"[{', '.join(self.members)}]"
        lines = [f"# `{self.name}`", "", f"::: {self.name}", *_HIDE_ROOT, f"      members: {members}"]
        for module, names in self.modules.items():
            lines += ["", f"## `{module}`", "", f"::: {module}", *_HIDE_ROOT,
                      "      show_docstring_description: false", f"      members: [{', '.join(names)}]"]
        return "\n".join(lines) + "\n"

    def rendered(self) -> list[str]:
        """Dotted paths (as written on the page) of the objects this page renders."""
        paths = [f"{self.name}.{n}" for n in self.members or []]
        for module, names in self.modules.items():
            paths += [f"{module}.{n}" for n in names]
        return paths


def load_package() -> griffe.Module:
    return griffe.load(PACKAGE, search_paths=[str(ROOT)], resolve_aliases=False)


def _is_private(obj: griffe.Object | griffe.Alias) -> bool:
    return any(part.startswith("_") for part in obj.path.split("."))


def exported_names(module: griffe.Module) -> list[str] | None:
    """The module's public names: its `__all__` if griffe can read it, else its own public definitions.

    None when `__all__` is computed from names griffe cannot follow (the top-level package's lazy exports).
    """
    if module.exports is not None:
        names = list(module.exports)
        if not all(isinstance(n, str) for n in names):
            return None
        return [n for n in names if not _is_submodule(module, n)]
    # No __all__: the public classes and functions defined here or re-exported from inside the package.
    return [n for n, m in module.members.items() if not n.startswith("_") and (
        m.target_path.startswith(f"{PACKAGE}.") if m.is_alias else (m.is_class or m.is_function))]


def _is_submodule(module: griffe.Module, name: str) -> bool:
    member = module.members.get(name)
    return member is not None and not member.is_alias and member.is_module


def reference_pages(package: griffe.Module | None = None) -> list[ReferencePage]:
    """The pages in nav order: the package itself and its top-level modules, then each sub-package, recursively."""
    package = package or load_package()
    pages = [ReferencePage(package.path, exported_names(package))]
    for name, member in sorted(package.members.items()):
        if not member.is_alias and member.is_module and not member.is_init_module and not name.startswith("_"):
            pages.append(ReferencePage(member.path, exported_names(member)))
    _sub_packages(package, pages)
    return pages


def _sub_packages(package: griffe.Module, pages: list[ReferencePage]) -> None:
    for name, sub in sorted(package.members.items()):
        if sub.is_alias or not sub.is_init_module or name.startswith("_"):
            continue
        exports = exported_names(sub) or []
        # A name exported lazily (PEP 562 `__getattr__`) is not a member griffe can follow from the package:
        # it is rendered under the module that defines it, like the public names the package does not export.
        page = ReferencePage(sub.path, [n for n in exports if n in sub.members])
        lazy = [n for n in exports if n not in sub.members]
        for module_name, module in sorted(sub.members.items()):
            if module.is_alias or not module.is_module or module.is_init_module:
                continue
            names = exported_names(module) or []
            if module_name.startswith("_"):  # a private module contributes only what the package exports lazily
                names = [n for n in names if n in lazy]
            missing = [n for n in names if n not in page.members]
            if missing:
                page.modules[module.path] = missing
        pages.append(page)
        _sub_packages(sub, pages)


def public_objects(package: griffe.Module | None = None) -> dict[str, str]:
    """Every public name of every public module: {dotted path as exported: canonical path of the object}."""
    package = package or load_package()
    found: dict[str, str] = {}

    def visit(module: griffe.Module) -> None:
        for name in exported_names(module) or []:
            member = module.members.get(name)
            if member is None:
                continue
            found[f"{module.path}.{name}"] = canonical(member)
        for sub in module.members.values():
            if not sub.is_alias and sub.is_module and not _is_private(sub):
                visit(sub)

    visit(package)
    return found


def canonical(obj: griffe.Object | griffe.Alias) -> str:
    seen = 0
    while obj.is_alias and seen < 20:
        try:
            obj = obj.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return obj.target_path
        seen += 1
    return obj.path


# MkDocs hooks ---------------------------------------------------------------------------------------------------

_PAGES: list[ReferencePage] | None = None


def on_config(config, **kwargs):
    global _PAGES
    _PAGES = pages = reference_pages()  # read once per build, used again by on_files
    nav = [entry for entry in (config.nav or []) if not (isinstance(entry, dict) and NAV_TITLE in entry)]
    nav.append({NAV_TITLE: [{page.name: page.path} for page in pages]})
    config.nav = nav
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    for page in _PAGES or reference_pages():
        files.append(File.generated(config, page.path, content=page.markdown()))
    return files
