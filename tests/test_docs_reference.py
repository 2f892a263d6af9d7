"""The API reference has a page for every module that defines a public name, in the nav."""

import inspect
import types
from pathlib import Path

import pytest

import microasgi
import microasgi.middleware

ROOT = Path(__file__).resolve().parent.parent
# Public by themselves, though `microasgi` does not re-export their names.
STANDALONE = {
    "microasgi.testclient",
    "microasgi.protocol",
    "microasgi.types",
    "microasgi.middleware.trace",
    "microasgi.authentication",
    "microasgi.templating",
    "microasgi.config",
    "microasgi.concurrency",
    "microasgi.encoders",
    "microasgi.openapi",
}


# Packages documented as one page: a name defined in one of their modules counts as theirs.
DOCUMENTED_AS_A_WHOLE = ("microasgi.channels",)


def public_modules() -> set[str]:
    """Modules defining a name of ``microasgi.__all__`` or ``microasgi.middleware.__all__``."""
    found = set(STANDALONE)
    for package in (microasgi, microasgi.middleware):
        for name in package.__all__:
            value = getattr(package, name)
            module = value.__name__ if isinstance(value, types.ModuleType) else None
            module = module or getattr(value, "__module__", None)
            if isinstance(module, str) and module.startswith("microasgi"):
                for whole in DOCUMENTED_AS_A_WHOLE:
                    if module.startswith(whole + "."):
                        module = whole
                found.add(module)
    return found


@pytest.mark.parametrize("module", sorted(public_modules()))
def test_public_module_has_a_reference_page(module: str) -> None:
    name = module.removeprefix("microasgi.")
    page = ROOT / "docs" / "reference" / f"{name}.md"
    assert page.is_file(), f"add {page.relative_to(ROOT)} with '::: {module}'"
    assert f"::: {module}\n" in page.read_text(encoding="utf-8")
    assert f"reference/{name}.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_modules_are_found() -> None:
    modules = public_modules()
    assert {"microasgi.applications", "microasgi.middleware.cors"} <= modules
    assert all(inspect.ismodule(__import__(module)) for module in modules)
