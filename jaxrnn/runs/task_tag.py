"""``--task tag``: a tag per token, from CoNLL-style files (``jaxrnn.data.conll``).

::

    python -m jaxrnn.train --task tag --model bilstm --data train.conll [--test-data test.conll]

Words are indexed on the training sentences (``TagVocab``: 0 = padding, 1 = an unknown
word, so positions always line up with the words); tags are every tag of both files.
Without ``--test-data`` a seeded random ``--test-fraction`` of the sentences is the test
split; ``--val-fraction F`` holds out a seeded random F of the training sentences as the
validation split (before the words are indexed, so its words may be unknown), which
``--early-stopping N`` watches (validation loss). Training sentences are padded to the
longest (``--max-len N`` cuts them, counted as truncated); test sentences are never cut.
The test report has token accuracy and, when every tag is ``O`` or
``B-``/``I-``/``E-``/``S-TYPE``, conlleval's entity-span precision, recall and F1 per type
(``jaxrnn.evaluation.spans``); the JSON ``final`` gets ``test_token_acc`` and
``test_span_f1`` from it, and the accuracy over the test tokens whose word is not in the
training vocabulary (id 1), apart: ``test_unk_acc`` over ``test_unk_tokens`` tokens.
``--word-dropout P`` replaces each training token by the unknown word with probability P
(``jaxrnn.nn.models.word_dropout``), so that its embedding is trained.
``--char-embed D`` also reads each token's characters (Lample et al. 2016): a character
embedding of D and a BiLSTM of ``--char-hidden H`` per direction over each word
(``jaxrnn.nn.chars.CharEncoder``), its final states concatenated after the word's embedding;
the characters are indexed on the training tokens and kept with the vocabulary
(``TagVocab.chars``), so a checkpoint tags unknown words by their spelling.
"""

from __future__ import annotations

import numpy as np

from jaxrnn.data.conll import Sentence, TagVocab, load_conll
from jaxrnn.errors import ConfigError
from jaxrnn.evaluation import spans
from jaxrnn.nn import models, sequence
from jaxrnn.nn.chars import CharEncoder
from jaxrnn.runs.build import recurrent_layer
from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.predictor import Tagger
from jaxrnn.runs.prepare import Prepared
from jaxrnn.runs.registry import TaskSpec, register
from jaxrnn.training import tasks


def is_bio(tags: list[str]) -> bool:
    """Whether every tag is ``O`` or ``B-``/``I-``/``E-``/``S-TYPE`` (span scores apply)."""
    try:
        spans.extract_chunks(tags)
    except ValueError:
        return False
    return True


def split_sentences(sentences: list[Sentence], fraction: float, seed: int | list[int]
                    ) -> tuple[list[Sentence], list[Sentence]]:  # fmt: skip
    """A seeded random split: ``round(fraction * N)`` (at least 1) test sentences."""
    if len(sentences) < 2:
        raise ConfigError(f"--data has {len(sentences)} sentence: give at least 2, or "
                          "--test-data")  # fmt: skip
    n_test = min(max(int(fraction * len(sentences) + 0.5), 1), len(sentences) - 1)
    perm = np.random.default_rng(seed).permutation(len(sentences))
    test = set(perm[:n_test].tolist())
    return ([s for i, s in enumerate(sentences) if i not in test],
            [s for i, s in enumerate(sentences) if i in test])  # fmt: skip


def hold_out(sentences: list[Sentence], fraction: float, seed: int
             ) -> tuple[list[Sentence], list[Sentence]]:  # fmt: skip
    """``--val-fraction``: a seeded random ``round(fraction * N)`` (at least 1) of the training
    sentences, held out as ``(train, val)``. Its own random stream (not the test split's), so
    the two draws are independent."""
    if len(sentences) < 2:
        raise ConfigError(f"--val-fraction {fraction:g} needs at least 2 training sentences, "
                          f"the training split has {len(sentences)}")  # fmt: skip
    return split_sentences(sentences, fraction, [seed, 1])


def encode(vocab: TagVocab, sentences: list[Sentence], max_len: int | None) -> tasks.TagRows:
    """``TagRows`` of ``sentences`` (``max_len`` None: the longest, nothing cut)."""
    e = vocab.encode(sentences, max_len)
    return tasks.TagRows(e.ids, e.lengths, e.tags, e.chars)


def prepare(cfg: TrainConfig, vocab: TagVocab | None) -> Prepared:
    """Read the CoNLL files, index words and tags (unless ``vocab``), encode both splits."""
    if cfg.data is None:
        raise ConfigError("--task tag needs --data FILE: a CoNLL file, one 'token tag' line "
                          "per word, a blank line between sentences (python -m "
                          "jaxrnn.data.tagging writes one)")  # fmt: skip
    train = load_conll(cfg.data)
    if cfg.test_data is not None:
        test = load_conll(cfg.test_data)
    else:
        train, test = split_sentences(train, cfg.test_fraction, cfg.seed)
    val: list[Sentence] = []
    if cfg.val_fraction:  # held out before the words are indexed: its words may be unknown
        train, val = hold_out(train, cfg.val_fraction, cfg.seed)
    if vocab is None:
        vocab = TagVocab.fit(train, extra_tags=[t for s in test + val for t in s.tags],
                             chars=cfg.char_embed > 0)  # fmt: skip
        if cfg.num_words:  # keep the num_words - 2 most frequent words (+ padding and OOV)
            vocab = TagVocab(vocab.words[: max(cfg.num_words - 2, 0)], vocab.tags,
                             vocab.lowercase, vocab.chars)  # fmt: skip
    max_len = cfg.max_len or None
    truncated = sum(len(s.tokens) > max_len for s in train) if max_len else 0
    return Prepared(encode(vocab, train, max_len), encode(vocab, test, None), vocab,
                    list(vocab.tags), truncated,
                    encode(vocab, val, None) if val else None)  # fmt: skip


def char_encoder(cfg: TrainConfig, vocab: TagVocab) -> CharEncoder | None:
    """``--char-embed D``: a character embedding of D over ``vocab``'s characters and a
    BiLSTM of ``--char-hidden`` per direction (its matmuls at ``--dtype``'s precision);
    None without it. ``ConfigError`` when the vocabulary has no characters."""
    if not cfg.char_embed:
        return None
    if vocab.chars is None:
        raise ConfigError("--char-embed reads characters, but this tag vocabulary has none "
                          "(a checkpoint trained without --char-embed?)")  # fmt: skip
    layer = sequence.RecurrentLayer("lstm", cfg.char_hidden, 1, True,
                                    _options=sequence._Options(precision=cfg.precision))
    return CharEncoder(layer, vocab.num_chars, cfg.char_embed)


def build_model(cfg: TrainConfig, vocab: TagVocab, labels: list[str]) -> models.SequenceTagger:
    """``SequenceTagger``: ``--model``'s cell and directions, ``--hidden``, ``--layers``,
    ``--embed-dim`` (0: one-hot), ``--dropout`` before the readout (the stack:
    ``build.recurrent_layer``, chunked with length buckets), ``--char-embed``'s character
    encoder (``char_encoder``)."""
    return models.SequenceTagger(recurrent_layer(cfg), vocab.vocab_size, vocab.num_tags,
                                 cfg.embed_dim or None, cfg.dropout,
                                 word_dropout=cfg.word_dropout,
                                 char_encoder=char_encoder(cfg, vocab))  # fmt: skip


def report_from(gold: list[list[str]], pred: list[list[str]],
                unknown: list[list[bool]] | None = None) -> dict:  # fmt: skip
    """``{"token_accuracy", "tokens", "spans"}``; ``spans`` is ``SpanReport.to_dict()`` or
    None when the tags are not a BIO scheme. With ``unknown`` (a flag per token: its word is
    not in the training vocabulary) also ``"unk_accuracy"`` (None when no token is unknown)
    and ``"unk_tokens"``: the accuracy over those tokens alone."""
    tokens = sum(len(g) for g in gold)
    same = sum(a == b for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True))
    all_tags = sorted({t for s in gold for t in s} | {t for s in pred for t in s})
    span = spans.span_report(gold, pred).to_dict() if is_bio(all_tags) else None
    out = {"token_accuracy": same / max(tokens, 1), "tokens": tokens, "spans": span}
    if unknown is not None:
        hits = [a == b for g, p, u in zip(gold, pred, unknown, strict=True)
                for a, b, k in zip(g, p, u, strict=True) if k]  # fmt: skip
        out["unk_accuracy"] = sum(hits) / len(hits) if hits else None
        out["unk_tokens"] = len(hits)
    return out


def unknown_tokens(ids: np.ndarray, lengths: np.ndarray) -> list[list[bool]]:
    """Per sentence, whether each token's id is the unknown word's (1: not in the training
    vocabulary, or cut by ``--num-words``), from ``ids [N, T]`` and ``lengths [N]``."""
    return [(np.asarray(row[:n]) == 1).tolist() for row, n in zip(ids, lengths, strict=True)]


def test_report(pred: np.ndarray, data: Prepared) -> dict:
    """The report of test predictions ``[N_test, T]`` (see ``report_from``), unknown-word
    accuracy included."""
    vocab, test = data.vocab, data.test
    return report_from(vocab.decode_tags(test.tags, test.lengths),
                       vocab.decode_tags(pred, test.lengths),
                       unknown_tokens(test.ids, test.lengths))  # fmt: skip


def report_final(report: dict) -> dict:
    """``test_token_acc``, (BIO tags) ``test_span_f1``, ``test_unk_tokens`` and (when it is
    not 0) ``test_unk_acc``."""
    out = {"test_token_acc": report["token_accuracy"]}
    if report["spans"] is not None:
        out["test_span_f1"] = report["spans"]["f1"]
    if "unk_tokens" in report:  # final holds numbers only (averaged over seeds)
        if report["unk_accuracy"] is not None:
            out["test_unk_acc"] = report["unk_accuracy"]
        out["test_unk_tokens"] = report["unk_tokens"]
    return out


def format_report(report: dict) -> str:
    """conlleval's table (``jaxrnn.evaluation.spans.format_span_report``), or the token
    accuracy; then the unknown-word accuracy."""
    s = report["spans"]
    if s is None:
        text = f"token accuracy {report['token_accuracy']:.4f} over {report['tokens']} tokens"
    else:
        per_type = {k: spans.TypeScore(**v) for k, v in s["per_type"].items()}
        text = spans.format_span_report(spans.SpanReport(**{**s, "per_type": per_type}))
    if report.get("unk_tokens") is not None:
        acc, n = report["unk_accuracy"], report["unk_tokens"]
        text += (f"\nunknown-word accuracy {acc:.4f} over {n} tokens not in the training "
                 "vocabulary" if n else "\nno test token is outside the training vocabulary")
    return text


def predictor(cfg, model, params, vocab, label_names, num_seeds: int, batch_size: int = 256
              ) -> Tagger:  # fmt: skip
    """A tag per word of each sentence (``jaxrnn.runs.predictor.Tagger``)."""
    return Tagger.from_parts(model, params, vocab, num_seeds=num_seeds, batch_size=batch_size)

SPEC = register(TaskSpec(
    "tag",
    prepare=prepare,
    build_model=build_model,
    task=lambda cfg, model, data: tasks.tagging(),
    vocab_from_dict=TagVocab.from_dict,
    test_report=test_report,
    report_final=report_final,
    predictor=predictor,
))  # fmt: skip
