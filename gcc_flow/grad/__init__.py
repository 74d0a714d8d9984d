"""Gradient functions, one module per op family; importing this package registers them all.

Every module of the package is imported, in name order, so a new family is just a new file
(``math_grad.py``, ``nn_grad.py``, ``control_flow_grad.py``...) that calls
``gcc_flow.gradients.register_gradient`` / ``register_no_gradient`` at import time.
"""
import importlib as _importlib
import pkgutil as _pkgutil

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _importlib.import_module(f"{__name__}.{_info.name}")
