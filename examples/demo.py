"""The main job on a bundled example, without any download (`make demo`).

Builds a small CNN with the frontend, writes it as .pb and .pbtxt, loads both with the runtime
(which never imports the frontend), runs them on a batch, checks that both files give the same
result, inspects the model with the CLI, and optimizes it with `gcc-flow optimize --check`.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import gcc_flow as gf
import runtime
from gcc_flow import cli


def build_cnn(seed: int = 0) -> gf.Graph:
    """input f32[?,28,28,1] -> conv 3x3x8 + relu -> maxpool -> conv 3x3x16 + batch norm + relu6
    -> avgpool -> dense 10 -> softmax."""
    rng = np.random.default_rng(seed)

    def weights(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[:-1]))).astype(np.float32)

    g = gf.Graph()
    with g.as_default():
        x = gf.placeholder(gf.float32, [None, 28, 28, 1], name="images")
        with gf.name_scope("conv1"):
            h = gf.nn.conv2d(x, weights(3, 3, 1, 8), strides=1, padding="SAME")
            h = gf.nn.relu(gf.nn.bias_add(h, np.zeros(8, np.float32)))
            h = gf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        with gf.name_scope("conv2"):
            h = gf.nn.conv2d(h, weights(3, 3, 8, 16), strides=2, padding="SAME")
            h, _, _ = gf.nn.fused_batch_norm(  # inference batch norm: folded by `optimize`
                h, rng.uniform(0.5, 1.5, 16).astype(np.float32), np.full(16, 0.1, np.float32),
                rng.normal(0, 0.1, 16).astype(np.float32),
                rng.uniform(0.5, 2, 16).astype(np.float32), is_training=False)
            h = gf.nn.relu6(h)
            h = gf.nn.avg_pool2d(h, ksize=7, strides=7, padding="VALID")
        with gf.name_scope("dense"):
            h = gf.reshape(h, [-1, 16])
            logits = gf.nn.bias_add(gf.matmul(h, weights(16, 10)), np.zeros(10, np.float32))
        gf.nn.softmax(logits, name="probabilities")
    return g


def main() -> int:
    graph = build_cnn()
    images = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / "cnn.pb", Path(tmp) / "cnn.pbtxt"]
        for path in paths:
            gf.io.write_graph(graph, path)
            print(f"wrote {path.name}: {path.stat().st_size} bytes")
        results = []
        for path in paths:
            sess = runtime.load(path)
            results.append(sess.run("probabilities:0", {"images:0": images}))
        np.testing.assert_array_equal(results[0], results[1])
        probs = results[0]
        print(f"\nran {paths[0].name} with the runtime on a batch of {len(images)} images:")
        for i, row in enumerate(probs):
            print(f"  image {i}: class {int(row.argmax())} (p={row.max():.3f}), "
                  f"sum of probabilities {row.sum():.6f}")
        print("\n.pb and .pbtxt give identical outputs\n")
        print(f"$ gcc-flow inspect {paths[0].name}")
        if cli.main(["inspect", str(paths[0])]) != 0:
            return 1
        optimized = Path(tmp) / "cnn.opt.pb"
        print(f"\n$ gcc-flow optimize {paths[0].name} -o {optimized.name} "
              f"--fetch probabilities:0 --check 3")
        code = cli.main(["optimize", str(paths[0]), "-o", str(optimized),
                         "--fetch", "probabilities:0", "--check", "3"])
        if code != 0:
            return code
        fused = runtime.load(optimized).run("probabilities:0", {"images:0": images})
        np.testing.assert_allclose(fused, probs, rtol=1e-5, atol=1e-6)
        print("the optimized graph gives the same probabilities on the demo batch")
        import importlib.util
        has_onnxruntime = importlib.util.find_spec("onnxruntime") is not None
        onnx_path = Path(tmp) / "cnn.onnx"
        check = ["--check", "2"] if has_onnxruntime else []
        print(f"\n$ gcc-flow convert {paths[0].name} {onnx_path.name} {' '.join(check)}")
        code = cli.main(["convert", str(paths[0]), str(onnx_path)] + check)
        if code != 0:
            return code
        if not has_onnxruntime:
            print("onnxruntime is not installed: cnn.onnx was written but not run")
            return 0
        import onnxruntime
        session = onnxruntime.InferenceSession(str(onnx_path),
                                               providers=["CPUExecutionProvider"])
        theirs = session.run(["probabilities"], {"images": images})[0]
        print(f"onnxruntime ran {onnx_path.name} on the demo batch: max abs difference from "
              f"gcc-flow's runtime {float(np.max(np.abs(theirs - probs))):.2e}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
