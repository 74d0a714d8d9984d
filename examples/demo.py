"""The main job on a bundled example, without any download (`make demo`).

Builds a small CNN with the frontend, writes it as .pb and .pbtxt, loads both with the runtime
(which never imports the frontend), runs them on a batch, checks that both files give the same
result, and inspects the model with the CLI.
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
    """input f32[?,28,28,1] -> conv 3x3x8 + relu -> maxpool -> conv 3x3x16 + relu6 -> avgpool
    -> dense 10 -> softmax."""
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
            h = gf.nn.relu6(gf.nn.bias_add(h, np.full(16, 0.1, np.float32)))
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
        return cli.main(["inspect", str(paths[0])])


if __name__ == "__main__":
    sys.exit(main())
