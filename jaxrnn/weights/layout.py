"""Weight layout and gate order: defined once, here, for the JAX cells, the NumPy
reference (``jaxrnn.scratch``) and the converters (``jaxrnn.nn.interop``).

The cells themselves are registered in ``jaxrnn.weights.cellspec`` (``GATES`` below is
a view of that registry). This module imports nothing but the standard library and that
registry, so the NumPy reference can use it without importing JAX. ``CellParams`` (below)
is the one container for a cell's four arrays in both backends (JAX arrays in
``jaxrnn.nn``, NumPy arrays in ``jaxrnn.scratch``).

Every cell (one layer, one direction) has four arrays, PyTorch's layout, so
``torch.nn.RNN/LSTM/GRU`` weights map without reordering::

    w_ih [G*H, D]    input weights, G gate blocks of H rows each
    w_hh [G*H, H]    recurrent weights
    b_ih [G*H]       input bias      (None when the layer has no bias)
    b_hh [G*H]       recurrent bias  (None when the layer has no bias)

    cell      G   row blocks, in order
    rnn       1   -                      h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    rnn_relu  1   -                      h' = relu(...)
    lstm      4   i, f, g, o             c' = f*c + i*g,  h' = o*tanh(c')
    gru       3   r, z, n                n = tanh(W_in x + b_in + r*(W_hn h + b_hn))
                                          h' = (1-z)*n + z*h

(i, f, o, r, z are sigmoids of their pre-activations; g and n are tanh.)

Stacked / bidirectional layers keep a tuple over layers of a tuple over
directions (forward, then backward); final states stack as
``[num_layers * num_directions, B, H]`` in the order layer 0 forward, layer 0
backward, layer 1 forward, ... (PyTorch's ``h_n``).
"""

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from jaxrnn.weights.cellspec import SPECS, get_spec


class CellParams(NamedTuple):
    """Weights of one cell (one layer, one direction): JAX or NumPy arrays, layout above."""

    w_ih: Any  # [G*H, D]
    w_hh: Any  # [G*H, H]
    b_ih: Any | None  # [G*H]
    b_hh: Any | None  # [G*H]


class _GatesView(Mapping):
    """``{cell: gate names}`` for every registered cell: a live view of
    ``jaxrnn.weights.cellspec.SPECS`` (so a cell registered later appears here too)."""

    def __getitem__(self, cell: str) -> tuple[str, ...]:
        return SPECS[cell].gates

    def __iter__(self) -> Iterator[str]:
        return iter(SPECS)

    def __len__(self) -> int:
        return len(SPECS)

    def __repr__(self) -> str:
        return repr(dict(self))


# The gate names of each cell, in row-block order (the registry's view; public name).
GATES: Mapping[str, tuple[str, ...]] = _GatesView()


def num_gates(cell: str) -> int:
    """G, the number of ``H``-row blocks in ``w_ih`` / ``w_hh`` for ``cell``."""
    return get_spec(cell).num_gates


def gate_slice(cell: str, gate: str, hidden_size: int) -> slice:
    """Rows of ``w_ih`` / ``w_hh`` / biases that belong to ``gate`` (e.g. ``"f"`` of lstm)."""
    k = get_spec(cell).gates.index(gate)
    return slice(k * hidden_size, (k + 1) * hidden_size)
