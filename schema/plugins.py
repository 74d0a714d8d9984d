"""Loading the modules of a family package on first use: op declarations, kernels, passes,
gradients and ONNX converters all register themselves when their module is imported, so a new
family is just a new file.

    _load = LazyImport("runtime.kernels", skip=("__init__",))
    _load()          # imports every module of the package once, in name order
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable

__all__ = ["import_submodules", "LazyImport"]


def import_submodules(package: str, skip: Iterable[str] = ()) -> None:
    """Imports every module of ``package`` (by name order), except those named in ``skip``."""
    module = importlib.import_module(package)
    skipped = set(skip)
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda m: m.name):
        if info.name not in skipped:
            importlib.import_module(f"{package}.{info.name}")


class LazyImport:
    """Calls import_submodules once; a failed import is retried next time, not half-kept."""

    def __init__(self, package: str, skip: Iterable[str] = ()):
        self.package = package
        self.skip = tuple(skip)
        self.done = False

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True  # set first: the modules call back into their registry while loading
        try:
            import_submodules(self.package, self.skip)
        except BaseException:
            self.done = False
            raise
