"""Graph optimization passes (graph -> graph rewrites). Being built; see the passes issue."""
