"""The TensorFlow side of gcc-flow's interop tests; TensorFlow is never a project dependency.

Run by the tests in a subprocess, with a Python that has TensorFlow:

    $TF_PYTHON tests/e2e/tf_import_check.py descriptors           -> JSON on stdout
    $TF_PYTHON tests/e2e/tf_import_check.py run CASES_DIR         -> CASES_DIR/<name>.tf.npz

``descriptors`` prints TensorFlow's own message layouts, {"messages": {"GraphDef": {"node":
[1, 11, "repeated", "NodeDef"], ...}, ...}, "enums": {"DataType": {"DT_FLOAT": 1, ...}}}, which
tests/schema/test_protos.py compares with gcc-flow's generated modules.

``run`` imports every ``<name>.pb`` of CASES_DIR with ``tf.compat.v1.import_graph_def``, runs
the ops ``<name>.json`` lists as "targets" (variable initializers), feeds the arrays it names
({"feeds": {"x:0": "feed_0"}, "fetches": {"y:0": "fetch_0"}, "targets": ["init"]}, keys of
``<name>.npz``) and saves TensorFlow's fetched values under the same fetch keys in
``<name>.tf.npz`` (or the reason TensorFlow refused the case in ``<name>.tf.error``). The
comparison happens on the test's side.

The host side (the test process, without TensorFlow) only uses ``find_tf_python`` and
``describe_messages``; this module imports TensorFlow inside ``main`` only.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

MESSAGES = (
    "GraphDef", "NodeDef", "AttrValue", "AttrValue.ListValue", "NameAttrList", "TensorProto",
    "TensorShapeProto", "TensorShapeProto.Dim", "ResourceHandleProto", "VersionDef",
    "FunctionDefLibrary", "FunctionDef", "OpDef", "OpDef.ArgDef", "OpDef.AttrDef",
    "VariantTensorDataProto",
)
PROTO_MODULES = ("graph_pb2", "node_def_pb2", "attr_value_pb2", "tensor_pb2", "tensor_shape_pb2",
                 "resource_handle_pb2", "versions_pb2", "function_pb2", "op_def_pb2", "types_pb2")
ENV_VAR = "GCC_FLOW_TF_PYTHON"


# -- host side --------------------------------------------------------------------------------

def find_tf_python() -> str | None:
    """A Python that can import TensorFlow: this one, or the one ``$GCC_FLOW_TF_PYTHON`` names.

        find_tf_python() -> "/work/scratch/tfvenv/bin/python"   (or None: skip the test)
    """
    if importlib.util.find_spec("tensorflow") is not None:
        return sys.executable
    candidate = os.environ.get(ENV_VAR, "")
    if candidate and (Path(candidate).is_file() or shutil.which(candidate)):
        return candidate
    return None


def run_tf(python: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs this script under ``python``; the caller checks returncode and reads stdout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    return subprocess.run([python, str(Path(__file__).resolve()), *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def _label(field) -> str:
    if getattr(field, "is_repeated", None) is not None:  # protobuf >= 6 dropped .label
        return "repeated" if field.is_repeated else (
            "required" if field.is_required else "optional")
    return {1: "optional", 2: "required", 3: "repeated"}[field.label]


def _find_message(modules, dotted: str):
    top, *nested = dotted.split(".")
    for module in modules:
        found = module.DESCRIPTOR.message_types_by_name.get(top)
        if found is not None:
            for part in nested:
                found = found.nested_types_by_name[part]
            return found
    raise KeyError(f"no message {dotted} in {[m.__name__ for m in modules]}")


def describe_messages(modules, names=MESSAGES) -> dict:
    """{message: {field: [number, type, label, short type name or None]}} for ``names``.

        describe_messages([graph_pb2])["GraphDef"]["node"] -> [1, 11, "repeated", "NodeDef"]
    """
    out = {}
    for dotted in names:
        fields = {}
        for field in _find_message(modules, dotted).fields:
            ref = field.message_type or field.enum_type
            fields[field.name] = [field.number, field.type, _label(field),
                                  ref.name if ref is not None else None]
        out[dotted] = fields
    return out


def describe_enum(enum_descriptor) -> dict:
    return {value.name: value.number for value in enum_descriptor.values}


# -- TensorFlow side --------------------------------------------------------------------------

def _tf_descriptors() -> dict:
    modules = [importlib.import_module(f"tensorflow.core.framework.{name}")
               for name in PROTO_MODULES]
    data_type = modules[PROTO_MODULES.index("types_pb2")].DataType
    return {"messages": describe_messages(modules),
            "enums": {"DataType": describe_enum(data_type.DESCRIPTOR)}}


def _run_case(tf, np, folder: Path, name: str) -> None:
    spec = json.loads((folder / f"{name}.json").read_text())
    data = np.load(folder / f"{name}.npz")
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((folder / f"{name}.pb").read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    fetches = list(spec["fetches"])
    with tf.compat.v1.Session(graph=graph) as sess:
        if spec.get("targets"):
            sess.run(spec["targets"])
        feed = {t: data[k] for t, k in spec["feeds"].items()}
        values = sess.run(fetches, feed_dict=feed)
    np.savez(folder / f"{name}.tf.npz",
             **{spec["fetches"][t]: np.asarray(v) for t, v in zip(fetches, values)})


def _run_all(folder: Path) -> None:
    """Runs every case; a case TensorFlow rejects leaves ``<name>.tf.error`` with the reason."""
    import numpy as np
    import tensorflow as tf
    for pb in sorted(folder.glob("*.pb")):
        try:
            _run_case(tf, np, folder, pb.stem)
        except Exception as err:  # noqa: BLE001  (reported to the test, case by case)
            (folder / f"{pb.stem}.tf.error").write_text(f"{type(err).__name__}: {err}")


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if argv[:1] == ["descriptors"]:
        print(json.dumps(_tf_descriptors()))
        return 0
    if argv[:1] == ["run"] and len(argv) == 2:
        _run_all(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
