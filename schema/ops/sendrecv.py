"""Cross-device transfers that the partitioner inserts: _Send, _Recv and their host-memory twins.

    x on /device:CPU:0 read by y on /device:CPU:1
      -> _Send(x) T=f32 tensor_name="edge_1_x" send_device=".../CPU:0" recv_device=".../CPU:1"
         on CPU:0, and on CPU:1:  _Recv() tensor_type=f32 (same tensor_name and devices) -> y

The pair meets in the step's rendezvous under TensorFlow's key
"send_device;send_device_incarnation;recv_device;tensor_name;frame_id:iter_id". Attrs are
TensorFlow's (tensorflow/core/ops/sendrecv_ops.cc). Both are side-effecting: passes never fold,
merge or drop them by value. A _Recv's shape is unknown, as in TensorFlow.
"""
from __future__ import annotations

from schema.registry import op
from schema.shapes import unknown

_TRANSFER_ATTRS = ["tensor_name: string", "send_device: string", "send_device_incarnation: int",
                   "recv_device: string", "client_terminated: bool = false"]

for _name in ("_Send", "_HostSend"):
    op(_name, inputs=["tensor: T"], attrs=["T: type"] + _TRANSFER_ATTRS, shape=unknown,
       stateful=True, side_effecting=True,
       doc="Sends its input to the rendezvous under the key named by its attrs.")

for _name in ("_Recv", "_HostRecv"):
    op(_name, outputs=["tensor: tensor_type"], attrs=["tensor_type: type"] + _TRANSFER_ATTRS,
       shape=unknown, stateful=True, side_effecting=True,
       doc="Waits for the tensor its matching _Send put in the rendezvous, and outputs it.")
