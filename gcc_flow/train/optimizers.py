"""TensorFlow 1.x optimizers: gradient descent, momentum, Adam, Adagrad, RMSProp.

    opt = gf.train.AdamOptimizer(0.01)
    train_op = opt.minimize(loss, global_step=gf.train.get_or_create_global_step())
      -> slots w/Adam, w/Adam_1 (m, v); beta1_power, beta2_power;
         Adam/update_w/ResourceApplyAdam; Adam/update (NoOp); Adam (AssignAddVariableOp on
         global_step)

Each optimizer applies one TensorFlow training op per variable: ResourceApply<Name> for resource
variables, Apply<Name> for reference variables (see schema/ops/training.py for the formulas).
Slot variables are named "<var>/<optimizer name>", "<var>/<optimizer name>_1"... as TensorFlow
names them, are not trainable and join the global variables, so run
``gf.global_variables_initializer()`` after ``minimize``.
"""
from __future__ import annotations

from typing import Optional

from gcc_flow import array_ops, math_ops
from gcc_flow.framework import Operation, Tensor, apply_op, convert_to_tensor
from gcc_flow.gradients import gradients
from gcc_flow.initializers import constant_initializer, ones_initializer, zeros_initializer
from gcc_flow.framework import Graph, get_default_graph
from gcc_flow.random_ops import adopt_scope_name
from gcc_flow.variables import GraphKeys, ResourceVariable, Variable, get_variable
from schema.dtypes import DType
from schema.ops.training import OPTIMIZER_OPS

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "AdagradOptimizer", "RMSPropOptimizer", "get_or_create_global_step",
           "get_global_step", "create_global_step", "GLOBAL_STEP"]

TRAIN_OP = "train_op"
GLOBAL_STEP = "global_step"


# -- the global step ------------------------------------------------------------------------------

def get_global_step(graph: Optional[Graph] = None) -> Optional[Variable]:
    """The variable of the "global_step" collection, or None."""
    found = (graph or get_default_graph()).get_collection(GLOBAL_STEP)
    if len(found) > 1:
        raise TypeError("Multiple tensors in global_step collection.")
    return found[0] if found else None


def create_global_step(graph: Optional[Graph] = None) -> Variable:
    """A scalar int64 variable "global_step" starting at 0, not trainable."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    with graph.as_default():
        return get_variable(GLOBAL_STEP, shape=[], dtype=DType.INT64,
                            initializer=zeros_initializer(DType.INT64), trainable=False,
                            collections=[GraphKeys.GLOBAL_VARIABLES, GLOBAL_STEP])


def get_or_create_global_step(graph: Optional[Graph] = None) -> Variable:
    return get_global_step(graph) or create_global_step(graph)


def _slot_initial(var: Variable, initializer, fill_value):
    """The slot's initial value: the initializer for a fully known shape, else a Fill shaped
    like the variable's initial value (as TensorFlow)."""
    shape = var.shape
    if shape is not None and all(d is not None for d in shape):
        return initializer
    return lambda: array_ops.fill(array_ops.shape(var.initial_value),
                                  convert_to_tensor(fill_value, var.dtype))


class Optimizer:
    """The TF1 optimizer protocol: compute_gradients, apply_gradients, minimize, slots.

    A subclass names its training op (``_op``, a key of OPTIMIZER_OPS), maps the op's state
    inputs to slot names (``_slots_of_state``), creates the slots and returns the scalar inputs
    of the op for a variable (``_hyper``).
    """

    GATE_NONE, GATE_OP, GATE_GRAPH = 0, 1, 2
    _op = ""
    _slots_of_state: dict = {}

    def __init__(self, use_locking: bool, name: str):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking, self._name = bool(use_locking), name
        self._slots: dict[str, dict] = {}
        self._non_slot: dict = {}

    def get_name(self) -> str:
        return self._name

    # -- the public protocol -------------------------------------------------------------
    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None) -> list:
        """[(gradient or None, variable)] for the trainable variables (or ``var_list``)."""
        loss = convert_to_tensor(loss)
        if not loss.dtype.base.is_floating:
            raise ValueError(f"Invalid type {loss.dtype.tf_name} for {loss.name}, expected a "
                             f"floating type")
        var_list = (loss.graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
                    if var_list is None else list(var_list))
        if not var_list:
            raise ValueError("No variables to optimize.")
        for v in var_list:
            if not (v.dtype.base.is_floating or v.dtype.base.is_complex):
                raise ValueError(f"Invalid type {v.dtype.tf_name} for {v.op.name}, expected a "
                                 f"floating or complex type")
        grads = gradients(loss, var_list, grad_ys=grad_loss,
                          colocate_gradients_with_ops=colocate_gradients_with_ops,
                          aggregation_method=aggregation_method)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step: Optional[Variable] = None,
                        name: Optional[str] = None) -> Operation:
        """One training op per (gradient, variable), then the global step increment."""
        pairs = [(g, v) for g, v in tuple(grads_and_vars)]
        if not pairs:
            raise ValueError("No variables provided.")
        pairs = [(None if g is None else convert_to_tensor(g), v) for g, v in pairs]
        var_list = [v for g, v in pairs if g is not None]
        if not var_list:
            raise ValueError(f"No gradients provided for any variable: "
                             f"{[v.name for _, v in pairs]}.")
        graph = var_list[0].graph
        with graph.as_default():
            self._create_slots(var_list)
            with graph.name_scope(name or self._name) as scope:
                self._prepare()
                updates = []
                for grad, var in pairs:
                    if grad is not None:
                        with graph.name_scope("update_" + var.op.name):
                            updates.append(self._apply_dense(grad, var))
                result = self._apply_updates(updates, global_step, scope)
        if result not in graph.get_collection(TRAIN_OP):
            graph.add_to_collection(TRAIN_OP, result)
        return result

    def minimize(self, loss, global_step: Optional[Variable] = None, var_list=None,
                 gate_gradients=GATE_OP, aggregation_method=None,
                 colocate_gradients_with_ops=False, name: Optional[str] = None,
                 grad_loss=None) -> Operation:
        """compute_gradients then apply_gradients (TensorFlow's argument order)."""
        pairs = self.compute_gradients(loss, var_list, gate_gradients, aggregation_method,
                                       colocate_gradients_with_ops, grad_loss)
        if not any(g is not None for g, _ in pairs):
            raise ValueError(f"No gradients provided for any variable, check your graph for ops "
                             f"that do not support gradients, between variables "
                             f"{[v.name for _, v in pairs]} and loss {loss}.")
        return self.apply_gradients(pairs, global_step=global_step, name=name)

    def get_slot(self, var: Variable, name: str) -> Optional[Variable]:
        return self._slots.get(name, {}).get(var)

    def get_slot_names(self) -> list[str]:
        return sorted(self._slots)

    def variables(self) -> list[Variable]:
        slots = [v for table in self._slots.values() for v in table.values()]
        return list(self._non_slot.values()) + slots

    # -- building blocks -----------------------------------------------------------------
    def _apply_updates(self, updates: list, global_step, scope: str) -> Operation:
        if global_step is None:
            return adopt_scope_name(self._finish(updates, scope), scope)
        with global_step.graph.control_dependencies([self._finish(updates, "update")]):
            step = global_step.assign_add(convert_to_tensor(1, global_step.dtype),
                                          read_value=False)
        step = step if isinstance(step, Operation) else step.op
        return adopt_scope_name(step, scope)

    def _finish(self, updates: list, name: str) -> Operation:
        return array_ops.group(*updates, name=name.rstrip("/").rsplit("/", 1)[-1])

    def _slot(self, var: Variable, slot_name: str, initializer, fill_value=0) -> Variable:
        """The slot ``slot_name`` of ``var``, created on first use as "<var>/<name>"."""
        table = self._slots.setdefault(slot_name, {})
        if var not in table:
            graph = var.graph
            with graph.as_default(), graph.name_scope(None):
                table[var] = Variable(_slot_initial(var, initializer, fill_value),
                                      trainable=False, name=f"{var.op.name}/{self._name}",
                                      dtype=var.dtype, shape=var.shape,
                                      use_resource=isinstance(var, ResourceVariable))
        return table[var]

    def _zeros_slot(self, var: Variable, slot_name: str) -> Variable:
        return self._slot(var, slot_name, zeros_initializer(var.dtype))

    def _non_slot_variable(self, initial_value: float, name: str,
                           colocate_with: Variable) -> Variable:
        key = (name, colocate_with.graph)
        if key not in self._non_slot:
            graph = colocate_with.graph
            with graph.as_default(), graph.name_scope(None):
                self._non_slot[key] = Variable(
                    initial_value, trainable=False, name=name,
                    use_resource=isinstance(colocate_with, ResourceVariable))
        return self._non_slot[key]

    def _scalar(self, value, name: str) -> Tensor:
        value = value() if callable(value) else value
        return convert_to_tensor(value, name=name)

    def _create_slots(self, var_list: list) -> None:
        """Subclasses create their slot variables here."""

    def _prepare(self) -> None:
        """Subclasses turn their hyper-parameters into tensors here."""

    def _hyper(self, var: Variable) -> dict:
        raise NotImplementedError

    def _op_attrs(self) -> dict:
        return {}

    def _apply_dense(self, grad: Tensor, var: Variable) -> Operation:
        """Apply<op>(var ref, slots..., scalars, grad), or ResourceApply<op> on the handles."""
        sig = OPTIMIZER_OPS[self._op]
        state = {"var": var}
        state.update({name: self.get_slot(var, slot)
                      for name, slot in self._slots_of_state.items()})
        values = {k: math_ops.cast(v, var.dtype) for k, v in self._hyper(var).items()}
        values[sig.grad_name] = grad
        attrs = {"T": var.dtype.base, "use_locking": self._use_locking, **self._op_attrs()}
        rest = [values[n] for n in sig.rest]
        if isinstance(var, ResourceVariable):
            return apply_op(f"ResourceApply{self._op}",
                            [state[n].handle for n in sig.state] + rest, attrs)
        return apply_op(f"Apply{self._op}", [state[n] for n in sig.state] + rest, attrs).op


class GradientDescentOptimizer(Optimizer):
    """var -= learning_rate * grad."""
    _op = "GradientDescent"

    def __init__(self, learning_rate, use_locking: bool = False,
                 name: str = "GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate

    def _prepare(self) -> None:
        self._lr_t = self._scalar(self._learning_rate, "learning_rate")

    def _hyper(self, var) -> dict:
        return {"alpha": self._lr_t}


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad;  var -= lr * accum (Nesterov: lr * (grad + m * accum))."""
    _op = "Momentum"
    _slots_of_state = {"accum": "momentum"}

    def __init__(self, learning_rate, momentum, use_locking: bool = False,
                 name: str = "Momentum", use_nesterov: bool = False):
        super().__init__(use_locking, name)
        self._learning_rate, self._momentum = learning_rate, momentum
        self._use_nesterov = bool(use_nesterov)

    def _create_slots(self, var_list) -> None:
        for v in var_list:
            self._zeros_slot(v, "momentum")

    def _prepare(self) -> None:
        self._lr_t = self._scalar(self._learning_rate, "learning_rate")
        self._momentum_t = self._scalar(self._momentum, "momentum")

    def _hyper(self, var) -> dict:
        return {"lr": self._lr_t, "momentum": self._momentum_t}

    def _op_attrs(self) -> dict:
        return {"use_nesterov": self._use_nesterov}


class AdamOptimizer(Optimizer):
    """Adam (Kingma & Ba): slots m ("w/Adam") and v ("w/Adam_1"); beta1_power and beta2_power
    are non-trainable variables multiplied by beta1, beta2 after every step, as in TF1."""
    _op = "Adam"
    _slots_of_state = {"m": "m", "v": "v"}

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 use_locking: bool = False, name: str = "Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon

    def _beta_accumulators(self, graph) -> tuple[Variable, Variable]:
        return self._non_slot[("beta1_power", graph)], self._non_slot[("beta2_power", graph)]

    def _create_slots(self, var_list) -> None:
        first = min(var_list, key=lambda v: v.name)
        self._non_slot_variable(self._beta1, "beta1_power", first)
        self._non_slot_variable(self._beta2, "beta2_power", first)
        for v in var_list:
            self._zeros_slot(v, "m")
            self._zeros_slot(v, "v")

    def _prepare(self) -> None:
        self._lr_t = self._scalar(self._lr, "learning_rate")
        self._beta1_t = self._scalar(self._beta1, "beta1")
        self._beta2_t = self._scalar(self._beta2, "beta2")
        self._epsilon_t = self._scalar(self._epsilon, "epsilon")

    def _hyper(self, var) -> dict:
        beta1_power, beta2_power = self._beta_accumulators(var.graph)
        return {"beta1_power": beta1_power, "beta2_power": beta2_power, "lr": self._lr_t,
                "beta1": self._beta1_t, "beta2": self._beta2_t, "epsilon": self._epsilon_t}

    def _finish(self, updates: list, name: str) -> Operation:
        graph = updates[0].graph
        beta1_power, beta2_power = self._beta_accumulators(graph)
        with graph.control_dependencies(updates):
            new1 = beta1_power.assign(beta1_power * self._beta1_t, self._use_locking,
                                      read_value=False)
            new2 = beta2_power.assign(beta2_power * self._beta2_t, self._use_locking,
                                      read_value=False)
        return super()._finish(updates + [new1, new2], name)


class AdagradOptimizer(Optimizer):
    """accum += grad ** 2;  var -= lr * grad / sqrt(accum); the slot "w/Adagrad" starts at
    initial_accumulator_value."""
    _op = "Adagrad"
    _slots_of_state = {"accum": "accumulator"}

    def __init__(self, learning_rate, initial_accumulator_value: float = 0.1,
                 use_locking: bool = False, name: str = "Adagrad"):
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: "
                             f"{initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._learning_rate, self._initial = learning_rate, initial_accumulator_value

    def _create_slots(self, var_list) -> None:
        for v in var_list:
            self._slot(v, "accumulator", constant_initializer(self._initial, v.dtype),
                       self._initial)

    def _prepare(self) -> None:
        self._lr_t = self._scalar(self._learning_rate, "learning_rate")

    def _hyper(self, var) -> dict:
        return {"lr": self._lr_t}


class RMSPropOptimizer(Optimizer):
    """ms = decay * ms + (1 - decay) * grad ** 2 ("rms" slot, starts at 1);
    mom = momentum * mom + lr * grad / sqrt(ms + epsilon);  var -= mom. ``centered`` also
    tracks the mean gradient mg and divides by sqrt(ms - mg ** 2 + epsilon)."""
    _slots_of_state = {"ms": "rms", "mom": "momentum"}

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
                 use_locking: bool = False, centered: bool = False, name: str = "RMSProp"):
        super().__init__(use_locking, name)
        self._learning_rate, self._decay = learning_rate, decay
        self._momentum, self._epsilon, self._centered = momentum, epsilon, bool(centered)
        self._op = "CenteredRMSProp" if centered else "RMSProp"
        if centered:
            self._slots_of_state = {"mg": "mg", **self._slots_of_state}

    def _create_slots(self, var_list) -> None:
        for v in var_list:
            self._slot(v, "rms", ones_initializer(v.dtype), 1)
            if self._centered:
                self._zeros_slot(v, "mg")
            self._zeros_slot(v, "momentum")

    def _prepare(self) -> None:
        self._lr_t = self._scalar(self._learning_rate, "learning_rate")
        self._decay_t = self._scalar(self._decay, "decay")
        self._momentum_t = self._scalar(self._momentum, "momentum")
        self._epsilon_t = self._scalar(self._epsilon, "epsilon")

    def _hyper(self, var) -> dict:
        return {"lr": self._lr_t, "rho": self._decay_t, "momentum": self._momentum_t,
                "epsilon": self._epsilon_t}
