"""The memory estimate's arithmetic and the check that stops a run that cannot fit
(jaxrnn.runs.memory), without compiling anything; tests/test_scale.py holds the estimate
against XLA's and a measured peak."""

from __future__ import annotations

import re

import pytest

from jaxrnn.errors import OutOfMemory
from jaxrnn.runs import memory
from jaxrnn.runs.config import TrainConfig

ROWS = {"train": 20, "test": 5}


def _cfg(**kw) -> TrainConfig:
    base = dict(model="bilstm", layers=2, hidden=8, embed_dim=4, batch_size=10,
                eval_batch_size=7, epochs=2, dtype="float32")  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_estimate_terms_by_hand():
    # bilstm: G = 4 gates, 2 directions; per token: training 2 layers x 2 dirs x (4 + 4) x 8
    # + 4 = 260 floats, evaluation 4 x 2 x 8 + 4 x 8 + 4 = 100 floats
    est = memory.estimate(_cfg(), ROWS, 6, seeds=2, group=2, devices=3, num_params=100)
    batch, ev = 4, 3  # ceil(10 / 3), ceil(min(7, 20) / 3)
    assert est.train_batch == 2 * batch * 6 * 260 * 4
    assert est.eval_batch == 2 * ev * 6 * 100 * 4
    # ids twice (t + 2 per row, 25 rows) + orders (seeds x (epochs + 16) x train rows)
    assert est.data == 2 * 4 * 25 * 8 + 4 * 2 * (2 + 16) * 20
    assert est.state == 6 * 2 * 100 * 4
    assert est.base == memory.BASE_BYTES == 400e6
    assert est.total == est.train_batch + est.data + est.state + est.base


def test_estimate_defaults_dtype_and_small_splits():
    # gru: G = 3, one direction: training 1 x 1 x 7 x 8 + 4 = 60, evaluation 32 + 24 + 4 = 60
    est = memory.estimate(_cfg(model="gru", layers=1), ROWS, 6)
    assert est.train_batch == 10 * 6 * 60 * 4 and est.eval_batch == 7 * 6 * 60 * 4
    assert est.data == 2 * 4 * 25 * 8 + 4 * (2 + 16) * 20 and est.state == 0
    # float64 doubles every array; the evaluation batch is at most the largest split
    est64 = memory.estimate(_cfg(model="gru", layers=1, dtype="float64",
                                 eval_batch_size=500), ROWS, 6)  # fmt: skip
    assert est64.train_batch == 2 * est.train_batch
    assert est64.eval_batch == 20 * 6 * 60 * 8
    # a length of 0 counts as 1 token
    assert memory.estimate(_cfg(), ROWS, 0).train_batch == memory.estimate(
        _cfg(), ROWS, 1).train_batch
    # the evaluation term counts when it is the larger
    big_eval = memory.estimate(_cfg(batch_size=1, eval_batch_size=20), ROWS, 6)
    assert big_eval.eval_batch > big_eval.train_batch
    assert big_eval.total == big_eval.eval_batch + big_eval.data + big_eval.state + 400e6


def test_available_bytes_reads_the_environment_then_the_host(monkeypatch):
    monkeypatch.setenv(memory.LIMIT_ENV, "12345")
    assert memory.available_bytes() == 12345.0
    monkeypatch.delenv(memory.LIMIT_ENV)
    have = memory.available_bytes()
    assert have is None or have > 1e6


def _limit(monkeypatch, have: float) -> None:
    monkeypatch.setenv(memory.LIMIT_ENV, repr(float(have)))


def test_check_passes_what_fits_and_stops_what_does_not(monkeypatch):
    cfg, kw = _cfg(), dict(seeds=2, num_params=10_000)
    est = memory.estimate(cfg, ROWS, 50, **kw)
    _limit(monkeypatch, est.total / memory.USABLE)  # exactly USABLE of it: fits
    assert memory.check(cfg, ROWS, 50, **kw) == est
    _limit(monkeypatch, est.total / memory.USABLE * 0.999)
    with pytest.raises(OutOfMemory) as err:
        memory.check(cfg, ROWS, 50, **kw)
    assert str(err.value) == (
        "this run needs about 401 MB of memory (training batch 10 x 50 tokens 1 MB, evaluation "
        "batch 0 MB, data 0 MB) but 445 MB is available: lower --max-len (--max-len 12 fits) "
        "or --batch-size")  # fmt: skip


def test_the_suggested_max_len_is_the_longest_that_fits(monkeypatch):
    """The ``--max-len N fits`` that the error names: the check passes at N and fails at
    N + 1 (a large state, which does not grow with the length, included)."""
    cfg = _cfg(batch_size=64, hidden=256)
    for num_params, have_len in ((0, 400), (3_000_000, 400), (10_000_000, 1000)):
        kw = dict(seeds=1, num_params=num_params)
        _limit(monkeypatch, memory.estimate(cfg, ROWS, have_len, **kw).total / memory.USABLE)
        with pytest.raises(OutOfMemory) as err:
            memory.check(cfg, ROWS, 2 * have_len, **kw)
        fits = int(re.search(r"--max-len (\d+) fits", str(err.value)).group(1))
        assert fits == have_len, (num_params, str(err.value))
        memory.check(cfg, ROWS, fits, **kw)
        with pytest.raises(OutOfMemory):
            memory.check(cfg, ROWS, fits + 1, **kw)


def test_check_names_the_evaluation_batch_or_no_length_when_none_fits(monkeypatch):
    cfg = _cfg(batch_size=1, eval_batch_size=20, hidden=512)  # evaluation batch the larger
    est = memory.estimate(cfg, ROWS, 5000)
    _limit(monkeypatch, est.total / memory.USABLE * 0.99)
    with pytest.raises(OutOfMemory, match=r"--max-len \d+ fits\) or --eval-batch-size$"):
        memory.check(cfg, ROWS, 5000)
    _limit(monkeypatch, memory.BASE_BYTES)  # not even the base fits
    with pytest.raises(OutOfMemory, match="lower --batch-size or --eval-batch-size, or use "
                                          "fewer texts$"):  # fmt: skip
        memory.check(cfg, ROWS, 5000)


def test_check_names_both_batch_sizes_when_their_terms_are_equal(monkeypatch):
    """gru, one layer: 60 floats a token in training and in evaluation; with equal batch
    sizes the two terms are equal, and lowering only one of them would not lower the peak."""
    cfg = _cfg(model="gru", layers=1, batch_size=7, eval_batch_size=7, hidden=512)
    est = memory.estimate(cfg, ROWS, 5000)
    assert est.train_batch == est.eval_batch
    _limit(monkeypatch, est.total / memory.USABLE * 0.99)
    with pytest.raises(OutOfMemory, match=r"--max-len \d+ fits\) or --batch-size and "
                                          r"--eval-batch-size$"):  # fmt: skip
        memory.check(cfg, ROWS, 5000)


def test_check_names_a_max_len_of_1_when_only_that_fits(monkeypatch):
    cfg = _cfg(hidden=512)
    _limit(monkeypatch, memory.estimate(cfg, ROWS, 1).total / memory.USABLE)
    with pytest.raises(OutOfMemory, match=r"lower --max-len \(--max-len 1 fits\) or "
                                          r"--batch-size$"):  # fmt: skip
        memory.check(cfg, ROWS, 5000)


def test_gb():
    assert memory._gb(1.5e9) == "1.5 GB" and memory._gb(1e9) == "1.0 GB"
    assert memory._gb(5e8) == "500 MB"


class _Device:
    def __init__(self, platform, stats):
        self.platform, self._stats = platform, stats

    def memory_stats(self):
        return self._stats


def test_available_bytes_takes_an_accelerators_limit_not_a_cpus(monkeypatch):
    import jax

    monkeypatch.delenv(memory.LIMIT_ENV, raising=False)
    host = memory.available_bytes()
    monkeypatch.setattr(jax, "devices", lambda: [_Device("gpu", {"bytes_limit": 123})])
    assert memory.available_bytes() == 123.0
    for stats in (None, {}, {"bytes_in_use": 5}):  # no limit reported: the host's memory
        monkeypatch.setattr(jax, "devices", lambda s=stats: [_Device("gpu", s)])
        assert abs(memory.available_bytes() - host) < 0.2 * host
    # a CPU device's figure is not the limit: the host's memory is
    monkeypatch.setattr(jax, "devices", lambda: [_Device("cpu", {"bytes_limit": 123})])
    assert abs(memory.available_bytes() - host) < 0.2 * host


def test_available_bytes_reads_memavailable_in_kib(monkeypatch):
    import io

    import jax

    monkeypatch.delenv(memory.LIMIT_ENV, raising=False)
    monkeypatch.setattr(jax, "devices", lambda: [_Device("cpu", None)])
    meminfo = "MemTotal:  100 kB\nMemFree:  1 kB\nMemAvailable:  3 kB\n"
    monkeypatch.setattr(memory, "open", lambda *a, **k: io.StringIO(meminfo), raising=False)
    assert memory.available_bytes() == 3 * 1024.0
    monkeypatch.setattr(memory, "open", lambda *a, **k: io.StringIO("MemTotal: 1 kB\n"),
                        raising=False)  # fmt: skip
    assert memory.available_bytes() is None

    def missing(*a, **k):
        raise OSError("no /proc")

    monkeypatch.setattr(memory, "open", missing, raising=False)
    assert memory.available_bytes() is None


def test_glibc_calls_name_m_arena_max_and_trim_everything(monkeypatch):
    import ctypes

    calls = []

    class _Libc:
        def mallopt(self, *a):
            calls.append(("mallopt", *a))

        def malloc_trim(self, *a):
            calls.append(("malloc_trim", *a))

    monkeypatch.setattr(ctypes, "CDLL", lambda name: _Libc())
    memory.limit_arenas()
    memory.limit_arenas(4)
    memory.release_freed()
    assert calls == [("mallopt", -8, 2), ("mallopt", -8, 4), ("malloc_trim", 0)]

    def no_glibc(name):
        raise OSError(name)

    monkeypatch.setattr(ctypes, "CDLL", no_glibc)
    memory.limit_arenas()  # not glibc: nothing, no error
    memory.release_freed()
