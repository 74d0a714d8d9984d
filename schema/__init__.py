"""gcc-flow's graph language: TensorFlow-compatible protobufs, dtypes, the op registry, the
in-memory IR and its conversions. Depends on nothing else in the project."""
