"""The cell registry: one ``CellSpec`` per recurrent cell, the facts both backends share.

A spec says what a cell *is* without any code that runs it (this module imports no JAX,
so the NumPy reference reads it too): its name, its gate blocks (``G`` = their number,
the row blocks of ``w_ih [G*H, D]`` / ``w_hh [G*H, H]``), whether its carry is ``h`` or
``(h, c)``, its activation, the initialiser rule for its input bias and whether hand-written
backward passes exist. The weight layout (``jaxrnn.weights.layout.GATES``, a view of this
registry), the initialisers, the memory and FLOP estimates and ``--model`` read it. The code
is registered per backend under the same name: ``jaxrnn.nn.cells`` (JAX step, zero carry,
optional custom-VJP pieces and parallel form) and ``jaxrnn.scratch.layers`` (NumPy forward
and hand-written backward step).

Adding a cell (say ``mingru``):

1. Spec: one ``CellSpec("mingru", ("z", "h"), activation="identity", ...)`` line in the
   built-ins at the bottom of this module (JAX-free, so config and the NumPy side see it).
2. JAX: its step ``step(params, carry, xp) -> (carry, h)`` (and, optionally, its
   ``CellVJP`` pieces) in its own module ``jaxrnn/nn/mingru.py``, ending with the one
   registration line ``register_cell("mingru", step)`` (``jaxrnn.nn.cells``); import that
   module in ``jaxrnn/nn/__init__.py`` so it registers whenever ``jaxrnn.nn`` loads. Without
   a ``CellVJP`` the layer differentiates it with autodiff whatever ``impl`` says. A step
   that reads ``w_ih`` and ``w_hh`` only as ``w.T`` (``cells.project_inputs``,
   ``_hidden_proj``) may say so with ``reads_transposed=True``: loops then transpose the
   matrices once, before the loop, not on every step (``cells.loop_params``). A ``CellVJP``
   may also give an ``infer`` step, used when nothing is differentiated (the LSTM's and GRU's
   materialise their activations behind an optimisation barrier there: ``bptt``'s notes).
3. NumPy twin: forward and hand-written backward step, ``register_numpy_cell("mingru",
   forward, backward)`` (``jaxrnn.scratch.layers``; spec ``numpy_backward=True``).
4. ``--model``: a preset naming it in ``jaxrnn.runs.config.MODEL_CELLS``. The tests
   parametrised over ``cell_names()`` cover it. Code outside the package passes the
   ``CellSpec`` itself to ``register_cell`` (``tests/test_cell_registry.py``: a whole cell).
"""

from __future__ import annotations

from typing import NamedTuple

# The carry: h [.., H], (h, c) (an LSTMState in both backends), or (h, x) (the LRU's LRUState:
# its real output h at the last step taken and its complex state x).
CARRIES = ("h", "hc", "hx")


class CellSpec(NamedTuple):
    """What a cell is, backend-free (see the module docstring).

    ``gates``: the names of its ``G`` row blocks, in order. ``carry``: ``"h"``, ``"hc"`` or
    ``"hx"`` (``CARRIES``).
    ``activation``: the nonlinearity of its output/candidate (``"tanh"``, ``"relu"``, ...).
    ``bias_init``: ``(gate, value)`` pairs: the ``b_ih`` blocks that start at ``value`` instead
    of 0 (the LSTM's forget gate: ``(("f", 1.0),)``, Keras' ``unit_forget_bias``).
    ``custom_vjp``: ``jaxrnn.nn`` has a hand-written VJP for it (``impl="custom_vjp"`` runs
    it); ``numpy_backward``: ``jaxrnn.scratch`` has a hand-written backward step.
    ``parallel``: its gates read the input only, so the whole sequence runs as one linear
    scan (``jaxrnn.nn.parallel_cells``); its params are that module's NamedTuples
    (``jaxrnn.weights.parallel_init``), not ``CellParams``, and ``gates`` name its input
    projections (no ``w_hh``).
    """

    name: str
    gates: tuple[str, ...]
    carry: str = "h"
    activation: str = "tanh"
    bias_init: tuple[tuple[str, float], ...] = ()
    custom_vjp: bool = False
    numpy_backward: bool = False
    parallel: bool = False

    @property
    def num_gates(self) -> int:
        """G, the number of ``H``-row blocks in ``w_ih`` / ``w_hh``."""
        return len(self.gates)

    @property
    def has_cell_state(self) -> bool:
        """True when the carry is ``(h, c)`` (an ``LSTMState``), False when it is ``h``."""
        return self.carry == "hc"


SPECS: dict[str, CellSpec] = {}


def _check(spec: CellSpec) -> None:
    if not spec.name or not spec.gates:
        raise ValueError(f"a cell needs a name and at least one gate, got {spec!r}")
    if spec.carry not in CARRIES:
        raise ValueError(f"cell {spec.name!r}: carry must be one of {CARRIES}, got {spec.carry!r}")
    if len(set(spec.gates)) != len(spec.gates):
        raise ValueError(f"cell {spec.name!r}: gate names repeat: {spec.gates}")
    for gate, _ in spec.bias_init:
        if gate not in spec.gates:
            raise ValueError(f"cell {spec.name!r}: bias_init names gate {gate!r}, "
                             f"not one of {spec.gates}")  # fmt: skip


def register_spec(spec: CellSpec) -> CellSpec:
    """Add ``spec`` to the registry (ValueError if the name is taken by a different spec)."""
    _check(spec)
    old = SPECS.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"cell {spec.name!r} is already registered as {old!r}")
    SPECS[spec.name] = spec
    return spec


def unregister_spec(name: str) -> None:
    """Remove a cell's spec (for tests that register a cell of their own)."""
    SPECS.pop(name, None)


def get_spec(name: str) -> CellSpec:
    """The spec of cell ``name``; ValueError naming the registered cells if there is none."""
    try:
        return SPECS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cell {name!r}; choose from {sorted(SPECS)}") from None


def cell_names() -> tuple[str, ...]:
    """Every registered cell, in registration order (the built-ins first)."""
    return tuple(SPECS)


def bias_init_blocks(spec: CellSpec, hidden_size: int) -> list[tuple[slice, float]]:
    """``(rows of b_ih, value)`` for each block ``spec.bias_init`` starts away from zero."""
    return [(_block(spec, gate, hidden_size), value) for gate, value in spec.bias_init]


def _block(spec: CellSpec, gate: str, hidden_size: int) -> slice:
    k = spec.gates.index(gate)
    return slice(k * hidden_size, (k + 1) * hidden_size)


# The built-in cells (layout and equations: jaxrnn.weights.layout).
for _spec in (
    CellSpec("rnn", ("h",), custom_vjp=True, numpy_backward=True),
    CellSpec("rnn_relu", ("h",), activation="relu", custom_vjp=True, numpy_backward=True),
    CellSpec("lstm", ("i", "f", "g", "o"), carry="hc", bias_init=(("f", 1.0),),
             custom_vjp=True, numpy_backward=True),  # fmt: skip
    CellSpec("gru", ("r", "z", "n"), custom_vjp=True, numpy_backward=True),
    # Parallel-in-time cells (jaxrnn.nn.parallel_cells): minGRU and minLSTM (Feng et al. 2024),
    # the LRU (Orvieto et al. 2023; "B" its complex input projection, "C" its readout).
    CellSpec("mingru", ("z", "h"), activation="g", numpy_backward=True, parallel=True),
    CellSpec("minlstm", ("f", "i", "h"), activation="g", numpy_backward=True, parallel=True),
    CellSpec("lru", ("B", "C"), carry="hx", activation="identity", numpy_backward=True,
             parallel=True),  # fmt: skip
):
    register_spec(_spec)
del _spec

__all__ = [
    "CARRIES",
    "SPECS",
    "CellSpec",
    "bias_init_blocks",
    "cell_names",
    "get_spec",
    "register_spec",
    "unregister_spec",
]
