"""Op declarations, one module per family. Importing this package declares every op: each
module of the package is imported (helper modules whose names start with "_" too, in order)."""
import importlib as _importlib
import pkgutil as _pkgutil

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _importlib.import_module(f"{__name__}.{_info.name}")
