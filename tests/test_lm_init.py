"""``--task lm``'s default initialisation, PyTorch's (``--init torch``,
``jaxrnn.weights.init.torch_params``), chosen on validation bits/char (benchmarks/lm_init.py):

* its statistics, against PyTorch's own modules (``nn.Embedding``, ``nn.LSTM``, ``nn.Linear``
  freshly built: the same bounds and spreads) and against the formulas (embedding N(0, 1),
  every LSTM weight and bias uniform(-1/sqrt(H), 1/sqrt(H)), the readout
  uniform(-1/sqrt(H), 1/sqrt(H)));
* the JAX draw (``LanguageModel.init``) has the NumPy draw's distributions and structure;
* ``--task lm`` with default flags starts from it (the character LSTM's embedding std near 1),
  ``--init orthogonal`` from Keras' scheme as before (embedding within +-0.05), and the other
  tasks' and the study's defaults are unchanged (``orthogonal``, ``study``);
* one-line errors for the schemes a language model has not.
"""

import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.nn import lm
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.runs import TrainConfig, initial_params, resolve_config
from jaxrnn.runs.config import init_scheme
from jaxrnn.runs.prepare_lm import prepare_lm
from jaxrnn.runs.task_lm import build_model
from jaxrnn.weights import init as winit

V, E, H = 50, 32, 64
TEXT = "the fox sees the owl. the owl sees a fox.\nthe old king sleeps.\n" * 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("lminit") / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def torch_draws(seed: int = 0) -> dict:
    """PyTorch's own freshly built modules' parameters (its defaults), as arrays."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    emb, rnn, out = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H), torch.nn.Linear(H, V)
    t = {n: p.detach().numpy().astype(np.float64) for n, p in rnn.named_parameters()}
    return {"embed": emb.weight.detach().numpy().astype(np.float64),
            "w_ih": t["weight_ih_l0"], "w_hh": t["weight_hh_l0"], "b_ih": t["bias_ih_l0"],
            "b_hh": t["bias_hh_l0"], "w_out": out.weight.detach().numpy().astype(np.float64),
            "b_out": out.bias.detach().numpy().astype(np.float64)}  # fmt: skip


def flat(p: dict) -> dict:
    c = p["rnn"][0][0]
    return {"embed": p["embed"], "w_ih": c.w_ih, "w_hh": c.w_hh, "b_ih": c.b_ih, "b_hh": c.b_hh,
            "w_out": p["w_out"], "b_out": p["b_out"]}  # fmt: skip


def ours(seed: int = 0) -> dict:
    return flat(winit.torch_params(cell="lstm", hidden=H, num_layers=1, bidirectional=False,
                                   vocab_size=V, embed_dim=E, num_outputs=V, seed=seed))


def check_torch_statistics(p: dict) -> None:
    """The formulas: N(0, 1) embedding; uniform(-k, k), k = 1/sqrt(H), everything else."""
    assert abs(p["embed"].mean()) < 0.1 and abs(p["embed"].std() - 1.0) < 0.05
    k = 1.0 / np.sqrt(H)
    for name in ("w_ih", "w_hh", "b_ih", "b_hh", "w_out", "b_out"):
        a = p[name]
        assert np.abs(a).max() <= k, name
        assert np.abs(a).max() > 0.9 * k, name  # reaches the bound: not a narrower law
        if a.size > 1000:
            assert abs(a.std() - k / np.sqrt(3)) < 0.05 * k / np.sqrt(3), name
    b_ih = p["b_ih"]
    assert abs(b_ih[H : 2 * H].mean()) < 0.3 * k  # no forget-gate bias of 1 (Keras')


def test_torch_params_draw_pytorchs_defaults():
    mine, theirs = ours(0), torch_draws(0)
    check_torch_statistics(mine)
    check_torch_statistics(theirs)  # the formulas are PyTorch's own
    for name in mine:  # same shapes, same bounds, same spread as PyTorch's modules
        assert mine[name].shape == theirs[name].shape, name
        np.testing.assert_allclose(np.abs(mine[name]).max(), np.abs(theirs[name]).max(),
                                   rtol=0.1 if mine[name].size > 100 else 0.5)  # fmt: skip
        if mine[name].size > 1000:
            np.testing.assert_allclose(mine[name].std(), theirs[name].std(), rtol=0.05)
    again, other = ours(0), ours(1)
    np.testing.assert_array_equal(again["w_hh"], mine["w_hh"])
    assert not np.array_equal(other["w_hh"], mine["w_hh"])
    same = winit.scheme_params("torch", cell="lstm", hidden=H, num_layers=1, bidirectional=False,
                               vocab_size=V, embed_dim=E, num_outputs=V, seed=0)  # fmt: skip
    for name, a in flat(same).items():
        np.testing.assert_array_equal(a, mine[name])


def test_jax_draw_has_the_numpy_draws_law_and_structure():
    model = lm.LanguageModel(RecurrentLayer("lstm", H), V, E, init_style="torch")
    a = jax.jit(model.init, static_argnums=1)(jax.random.key(0), np.float64)  # one compile
    b = model.init_numpy(0, np.float64)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
    check_torch_statistics(flat(jax.tree.map(np.asarray, a)))
    check_torch_statistics(flat(b))
    np.testing.assert_array_equal(flat(b)["w_hh"], ours(0)["w_hh"])  # init_numpy: torch_params


def test_lm_defaults_start_from_torch_and_orthogonal_keeps_kerass(corpus):
    def first(cfg):
        cfg = resolve_config(cfg)
        model = build_model(cfg, prepare_lm(cfg).vocab)
        p = initial_params(model, cfg, [0])
        return model, flat(jax.tree.map(lambda a: np.asarray(a[0]), p))

    model, p = first(TrainConfig(task="lm", data=corpus, hidden=H, batch_size=4))
    assert model.init_style == "torch" and init_scheme(resolve_config(
        TrainConfig(task="lm", data=corpus))) == "torch"  # fmt: skip
    assert abs(p["embed"].std() - 1.0) < 0.15  # N(0, 1): the embedding PyTorch starts from
    assert np.abs(p["w_hh"]).max() <= 1 / np.sqrt(H)
    model, p = first(TrainConfig(task="lm", data=corpus, hidden=H, batch_size=4,
                                 init="orthogonal"))
    assert model.init_style == "keras"
    assert np.abs(p["embed"]).max() <= 0.05  # Keras' uniform(-0.05, 0.05), the old default
    np.testing.assert_allclose(p["b_ih"][H : 2 * H], 1.0)  # Keras' forget bias
    # min-char-rnn, the parallel cells, the other tasks and the study: unchanged
    rnn = resolve_config(TrainConfig(task="lm", model="rnn", data=corpus))
    assert build_model(rnn, prepare_lm(rnn).vocab).init_style == "min_char"
    assert init_scheme(resolve_config(TrainConfig(task="lm", model="mingru"))) == "orthogonal"
    for task in ("classify", "tag", "regress"):
        assert init_scheme(resolve_config(TrainConfig(task=task, model="lstm"))) == "orthogonal"
    assert init_scheme(resolve_config(TrainConfig(model="rnn"))) == "study"
    assert init_scheme(resolve_config(TrainConfig(model="rnn2"))) == "study"


def test_lm_refuses_the_schemes_it_has_not(corpus):
    for init in ("study", "glorot"):
        with pytest.raises(ConfigError, match=f"--init {init}: --task lm starts from torch"):
            resolve_config(TrainConfig(task="lm", data=corpus, init=init))
    with pytest.raises(ConfigError, match="min-char-rnn, which starts from its own"):
        resolve_config(TrainConfig(task="lm", model="rnn", init="torch"))
    proc = subprocess.run([sys.executable, "-m", "jaxrnn.train", "--task", "lm", "--data", corpus,
                           "--init", "glorot", "--epochs", "1"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --init glorot: --task lm")
