"""Graph optimization passes: graph -> graph rewrites, each verified, each run reported.

    import passes
    optimized_gd, report = passes.optimize(graph_def, fetches=["probs:0"])
    print(report.table())
    passes.available()        # ['cse', 'fold_constants', 'fuse', 'layout', 'prune', ...]
    passes.DEFAULT_PIPELINE
"""
from passes.base import PassContext, PassError, PassResult, available, get_pass, register_pass
from passes.manager import DEFAULT_PIPELINE, Report, optimize, optimize_graph, run_pipeline

__all__ = ["optimize", "optimize_graph", "run_pipeline", "available", "get_pass",
           "register_pass", "PassContext", "PassResult", "PassError", "Report",
           "DEFAULT_PIPELINE"]
