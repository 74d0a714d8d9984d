"""Op declarations, one module per family. Importing this package declares every op."""
from schema.ops import (  # noqa: F401
    array, control, elementwise, nn, reduction, state,
)
