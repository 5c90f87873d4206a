"""Parameters of the parallel-in-time cells (minGRU, minLSTM, LRU) and their NumPy initialisers.

Shared by the JAX cells (``jaxrnn.nn.parallel_cells``) and their NumPy twins
(``jaxrnn.scratch.parallel_cells``); imports no JAX, so both start from the same numbers
(one ``np.random.Generator``, the same draws in the same order).

Shapes, ``D`` the input size and ``H`` the hidden (minGRU, minLSTM) or state (LRU) size:

* ``MinGRUParams``: ``w_z, w_h [H, D]``, ``b_z, b_h [H]``.
* ``MinLSTMParams``: ``w_f, w_i, w_h [H, D]``, ``b_f, b_i, b_h [H]``.
* ``LRUParams``: ``nu_log, theta_log, gamma_log [H]``, ``b_re, b_im [H, D]``,
  ``c_re, c_im [D, H]``, ``d [D]`` (the LRU maps ``[B, T, D]`` to ``[B, T, D]``). With an
  ``output_size`` ``O`` other than ``D`` (the LRU as a layer of ``jaxrnn.nn.sequence``, which
  maps ``D`` to its hidden width): ``c_re, c_im [O, H]`` and a dense feedthrough ``d [O, D]``
  (``y = Re(C x) + d @ u``) in place of the paper's diagonal one.

Schemes:

* minGRU, minLSTM: PyTorch ``nn.Linear``'s default, ``U(-1/sqrt(D), 1/sqrt(D))`` for
  weights and biases, what the minRNN paper's code (BorealisAI/minRNNs) uses; the
  optional ``forget_bias`` is added to minLSTM's ``b_f`` (that code's
  ``forget_bias_init_scale``).
* LRU (Orvieto et al. 2023, arXiv:2303.06349, appendix A): eigenvalues uniform on the
  ring ``r_min <= |lambda| <= r_max`` with phase in ``[0, max_phase]``:
  ``nu_log = log(-log(u1 (r_max^2 - r_min^2) + r_min^2) / 2)``,
  ``theta_log = log(max_phase u2)``, ``gamma_log = log(sqrt(1 - |lambda|^2))``;
  ``B ~ N(0, 1/(2D))`` (real and imaginary parts), ``C ~ N(0, 1/H)``, ``D ~ N(0, 1)``
  (a dense ``D [O, D]``: ``N(0, 1/D)``, so ``d @ u`` keeps the diagonal one's scale).
  Defaults 0.9 / 0.999 / 2 pi, the paper's long-range settings (its appendix code's
  own defaults are 0 / 1 / 6.28).

Blocks (for stacking; see ``jaxrnn.nn.parallel_cells``): ``MinBlockParams`` (norm ->
cell -> out projection, residual; norm -> GELU MLP, residual) and ``LRUBlockParams``
(norm -> LRU -> GELU -> GLU, residual). Norm scales start at 1, the projections at
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CELLS = ("mingru", "minlstm", "lru")


class MinGRUParams(NamedTuple):
    """minGRU weights: ``w_z, w_h [H, D]``, ``b_z, b_h [H]``."""

    w_z: np.ndarray
    b_z: np.ndarray
    w_h: np.ndarray
    b_h: np.ndarray


class MinLSTMParams(NamedTuple):
    """minLSTM weights: ``w_f, w_i, w_h [H, D]``, ``b_f, b_i, b_h [H]``."""

    w_f: np.ndarray
    b_f: np.ndarray
    w_i: np.ndarray
    b_i: np.ndarray
    w_h: np.ndarray
    b_h: np.ndarray


class LRUParams(NamedTuple):
    """LRU weights (all real): ``nu_log, theta_log, gamma_log [N]``, ``b_re, b_im [N, D]``,
    ``c_re, c_im [O, N]``, ``d [D]`` (``O = D``, the paper's diagonal feedthrough) or
    ``d [O, D]`` (dense, when the output width ``O`` differs from ``D``)."""

    nu_log: np.ndarray
    theta_log: np.ndarray
    gamma_log: np.ndarray
    b_re: np.ndarray
    b_im: np.ndarray
    c_re: np.ndarray
    c_im: np.ndarray
    d: np.ndarray


class MinBlockParams(NamedTuple):
    """A minGRU/minLSTM block over model width ``D`` with cell width ``H`` and MLP width
    ``F``: ``norm1, norm2 [D]``, ``cell``, ``w_out [D, H]``, ``b_out [D]``, ``w1 [F, D]``,
    ``b1 [F]``, ``w2 [D, F]``, ``b2 [D]``."""

    norm1: np.ndarray
    cell: MinGRUParams | MinLSTMParams
    w_out: np.ndarray
    b_out: np.ndarray
    norm2: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


class LRUBlockParams(NamedTuple):
    """An LRU block over width ``D``: ``norm [D]``, ``cell`` (state ``N``), the GLU's
    ``w_glu [2D, D]``, ``b_glu [2D]``."""

    norm: np.ndarray
    cell: LRUParams
    w_glu: np.ndarray
    b_glu: np.ndarray


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype) -> np.ndarray:
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(dtype)


def _linear(rng: np.random.Generator, n_out: int, n_in: int, dtype) -> tuple[np.ndarray, ...]:
    """PyTorch ``nn.Linear``'s default: weight ``[n_out, n_in]`` then bias ``[n_out]``."""
    return _uniform(rng, (n_out, n_in), n_in, dtype), _uniform(rng, (n_out,), n_in, dtype)


def _check_sizes(input_size: int, hidden_size: int) -> None:
    if input_size < 1 or hidden_size < 1:
        raise ValueError(f"sizes must be >= 1, got input {input_size}, hidden {hidden_size}")


def mingru_params(
    rng: np.random.Generator, input_size: int, hidden_size: int, dtype=np.float64
) -> MinGRUParams:
    """minGRU weights ``[H, D]`` (see the module docstring), drawn z then h."""
    _check_sizes(input_size, hidden_size)
    w_z, b_z = _linear(rng, hidden_size, input_size, dtype)
    w_h, b_h = _linear(rng, hidden_size, input_size, dtype)
    return MinGRUParams(w_z, b_z, w_h, b_h)


def minlstm_params(
    rng: np.random.Generator,
    input_size: int,
    hidden_size: int,
    dtype=np.float64,
    forget_bias: float = 0.0,
) -> MinLSTMParams:
    """minLSTM weights ``[H, D]``, drawn f, i, h; ``forget_bias`` is added to ``b_f``."""
    _check_sizes(input_size, hidden_size)
    w_f, b_f = _linear(rng, hidden_size, input_size, dtype)
    w_i, b_i = _linear(rng, hidden_size, input_size, dtype)
    w_h, b_h = _linear(rng, hidden_size, input_size, dtype)
    return MinLSTMParams(w_f, (b_f + forget_bias).astype(dtype), w_i, b_i, w_h, b_h)


def lru_params(
    rng: np.random.Generator,
    input_size: int,
    hidden_size: int,
    dtype=np.float64,
    r_min: float = 0.9,
    r_max: float = 0.999,
    max_phase: float = 2 * np.pi,
    output_size: int | None = None,
) -> LRUParams:
    """LRU weights with ring initialisation; ``hidden_size`` is the state size ``N``,
    ``output_size`` the output width ``O`` (None: ``input_size``, the paper's LRU)."""
    _check_sizes(input_size, hidden_size)
    out = input_size if output_size is None else output_size
    _check_sizes(input_size, out)
    if not 0.0 <= r_min < r_max <= 1.0:
        raise ValueError(f"need 0 <= r_min < r_max <= 1, got r_min={r_min}, r_max={r_max}")
    n, d = hidden_size, input_size
    u1, u2 = rng.uniform(size=n), rng.uniform(size=n)
    nu_log = np.log(-0.5 * np.log(u1 * (r_max**2 - r_min**2) + r_min**2))
    theta_log = np.log(max_phase * u2)
    # |lambda| = exp(-exp(nu_log)), so 1 - |lambda|^2 = -expm1(-2 exp(nu_log)).
    gamma_log = 0.5 * np.log(-np.expm1(-2.0 * np.exp(nu_log)))
    b_re = rng.standard_normal((n, d)) / np.sqrt(2 * d)
    b_im = rng.standard_normal((n, d)) / np.sqrt(2 * d)
    c_re = rng.standard_normal((out, n)) / np.sqrt(n)
    c_im = rng.standard_normal((out, n)) / np.sqrt(n)
    d_skip = rng.standard_normal(d) if out == d else rng.standard_normal((out, d)) / np.sqrt(d)
    arrays = (nu_log, theta_log, gamma_log, b_re, b_im, c_re, c_im, d_skip)
    return LRUParams(*(np.asarray(x, dtype) for x in arrays))


_INIT = {"mingru": mingru_params, "minlstm": minlstm_params, "lru": lru_params}


def check_cell(cell: str) -> str:
    """``cell`` if it is one of ``CELLS``; ValueError (one line) otherwise."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
    return cell


def init_params(
    rng: np.random.Generator, cell: str, input_size: int, hidden_size: int, dtype=np.float64
):
    """The ``cell``'s weights (``MinGRUParams``, ``MinLSTMParams`` or ``LRUParams``)."""
    return _INIT[check_cell(cell)](rng, input_size, hidden_size, dtype)


def layer_params(
    rng: np.random.Generator, cell: str, input_size: int, hidden_size: int, dtype=np.float64
):
    """One layer and direction of ``cell`` in a ``jaxrnn.nn.sequence.RecurrentLayer`` of hidden
    width ``H = hidden_size``: ``init_params``, except that the LRU's output width is ``H``
    (state size ``N = H``, ``c [H, N]``, dense feedthrough ``d [H, D]``; the paper's diagonal
    ``d [D]`` when ``D = H``)."""
    if check_cell(cell) == "lru":
        return lru_params(rng, input_size, hidden_size, dtype, output_size=hidden_size)
    return init_params(rng, cell, input_size, hidden_size, dtype)


def block_params(
    rng: np.random.Generator,
    cell: str,
    dim: int,
    hidden_size: int,
    ff_mult: int = 4,
    dtype=np.float64,
) -> MinBlockParams | LRUBlockParams:
    """One block over model width ``dim``: the cell (hidden or state size ``hidden_size``)
    then, for minGRU/minLSTM, the out projection and an MLP of width ``ff_mult * dim``, for
    the LRU the GLU (``ff_mult`` unused)."""
    check_cell(cell)
    if cell == "lru":
        cp = lru_params(rng, dim, hidden_size, dtype)
        w_glu, b_glu = _linear(rng, 2 * dim, dim, dtype)
        return LRUBlockParams(np.ones(dim, dtype), cp, w_glu, b_glu)
    cp = init_params(rng, cell, dim, hidden_size, dtype)
    w_out, b_out = _linear(rng, dim, hidden_size, dtype)
    w1, b1 = _linear(rng, ff_mult * dim, dim, dtype)
    w2, b2 = _linear(rng, dim, ff_mult * dim, dtype)
    ones = np.ones(dim, dtype)
    return MinBlockParams(ones, cp, w_out, b_out, ones.copy(), w1, b1, w2, b2)


def stack_params(
    rng: np.random.Generator,
    cell: str,
    num_layers: int,
    dim: int,
    hidden_size: int,
    ff_mult: int = 4,
    dtype=np.float64,
) -> tuple:
    """A tuple of ``num_layers`` blocks (``block_params``), drawn layer by layer."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    return tuple(
        block_params(rng, cell, dim, hidden_size, ff_mult, dtype) for _ in range(num_layers)
    )


class ResidualParams(NamedTuple):
    """A residual block as one layer direction's params (``--block residual``;
    ``jaxrnn.nn.parallel_cells.BlockForm``, ``jaxrnn.scratch.blocks``): ``proj``, ``(w_in
    [H, D], b_in [H])`` onto the block's width ``H`` when the layer's input width ``D`` differs
    (layer 0 after an embedding, a bidirectional layer's ``2 H``), else ``()``; ``block`` the
    ``MinBlockParams``/``LRUBlockParams`` of ``block_params`` over width ``H``, cell width
    (LRU: state size) ``H``."""

    proj: tuple
    block: MinBlockParams | LRUBlockParams


def residual_params(
    rng: np.random.Generator,
    cell: str,
    input_size: int,
    hidden_size: int,
    ff_mult: int = 4,
    dtype=np.float64,
) -> ResidualParams:
    """One layer direction's ``ResidualParams``: the projection (if ``input_size !=
    hidden_size``; PyTorch ``nn.Linear``'s draw) then ``block_params``, from ``rng``."""
    proj = () if input_size == hidden_size else _linear(rng, hidden_size, input_size, dtype)
    return ResidualParams(proj, block_params(rng, cell, hidden_size, hidden_size, ff_mult, dtype))


def residual_layers(
    rng: np.random.Generator,
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    num_directions: int,
    ff_mult: int = 4,
    dtype=np.float64,
) -> tuple:
    """``--block residual``'s stack: ``num_layers`` x ``num_directions`` ``ResidualParams``,
    drawn layer by layer, direction by direction (``RecurrentLayer.init_numpy``); layer 0
    reads ``input_size``, the others ``num_directions * hidden_size``."""
    return tuple(
        tuple(residual_params(rng, cell, input_size if i == 0 else num_directions * hidden_size,
                              hidden_size, ff_mult, dtype) for _ in range(num_directions))
        for i in range(num_layers)
    )  # fmt: skip
