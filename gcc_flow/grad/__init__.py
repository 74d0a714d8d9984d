"""Gradient functions, one module per op family; importing this package registers them all.

Every module of the package is imported, in name order, so a new family is just a new file
(``math_grad.py``, ``nn_grad.py``, ``control_flow_grad.py``...) that calls
``gcc_flow.gradients.register_gradient`` / ``register_no_gradient`` at import time.
"""
from schema.plugins import import_submodules as _import_submodules

_import_submodules(__name__)
