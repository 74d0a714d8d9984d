"""gcc-flow's runtime: loads a GraphDef and executes it. Never imports the frontend.

    import runtime
    sess = runtime.load("model.pb")
    sess.run("y:0", {"x:0": x})
"""
from runtime.session import Session, load

__all__ = ["load", "Session"]
