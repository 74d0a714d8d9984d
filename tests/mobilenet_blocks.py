"""Which MobileNetV2 block a node of tests/fixtures/tf/mobilenet_v2.pb belongs to, for tests
that split the model across devices (half of the blocks on each)."""
from __future__ import annotations


def block_of(name: str) -> int:
    """input, Conv1 -> 0, expanded_conv -> 1, block_k -> k+1, Conv_1 and the head -> 18."""
    if "/" not in name:
        return 0
    scope = name.split("/")[1]
    if scope.startswith("block_"):
        return int(scope.split("_")[1]) + 1
    if scope.startswith(("expanded_conv", "bn_Conv1", "Conv1")):
        return 1 if scope.startswith("expanded") else 0
    return 18
