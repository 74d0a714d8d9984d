"""Op declarations, one module per family. Importing this package declares every op: each
module of the package is imported, in name order, so a new family is just a new file."""
from schema.plugins import import_submodules as _import_submodules

_import_submodules(__name__)
