"""_Send / _Recv kernels (and the _Host* twins): they meet in the step's rendezvous.

    _Send(x) tensor_name="edge_1_x" send_device=A recv_device=B   -> rendezvous[key] = x
    _Recv() with the same attrs on B                               -> rendezvous[key]

The key (runtime.rendezvous.make_key) is built once when the node compiles; the rendezvous is
the one bound to the worker thread running the step (runtime.rendezvous.current). Registered
for every device ("any"). Values travel in host memory: a _Send's input is a ``host_input``
(runtime/gpu.py downloads it on a GPU), and on a GPU the consumers of a _Recv upload what it
returns, as they do for any host value.
"""
from __future__ import annotations

from runtime import rendezvous
from runtime.kernels import KernelContext, kernel


def transfer_key(ctx: KernelContext) -> str:
    """The rendezvous key of a _Send/_Recv node, from its attrs (frame 0, iteration 0)."""
    missing = [a for a in ("tensor_name", "send_device", "recv_device")
               if not isinstance(ctx.attr(a), str) or not ctx.attr(a)]
    if missing:
        raise ctx.fail(f"attrs {missing} must name the transfer (non-empty strings)")
    return rendezvous.make_key(ctx.attr("send_device"), int(ctx.attr("send_device_incarnation", 1)),
                               ctx.attr("recv_device"), ctx.attr("tensor_name"))


@kernel("_Send", "_HostSend", device="any", host_inputs=(0,))
def send(ctx: KernelContext):
    key = transfer_key(ctx)
    name = ctx.node.name

    def run(value):
        rendezvous.current(name).send(key, value)
    return run


@kernel("_Recv", "_HostRecv", device="any")
def recv(ctx: KernelContext):
    key = transfer_key(ctx)
    name = ctx.node.name

    def run():
        return rendezvous.current(name).recv(key)
    return run
