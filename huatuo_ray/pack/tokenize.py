"""Conversations -> token ids and labels, a batch at a time, with the fast tokenizer's batch encoder.

A batch is rendered to strings (:mod:`huatuo_ray.pack.template`), encoded in one
``tokenizers.Tokenizer.encode_batch`` call (Rust, multi-threaded, no special tokens added: the
template carries them, as ``apply_chat_template`` does), and each answer's character span is mapped
to tokens with ``char_to_token``: a token is trained when its first character lies in an answer
span. Tokenizers without a fast backend (e.g. Baichuan2's sentencepiece remote code) encode the
template pieces separately and concatenate them (slower; pieces cannot merge across boundaries).

The result is columnar: one flat int32 array of ids, one of labels (-100 where not trained), and
row offsets, so a million conversations are three arrays, not a million Python objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Any, Iterable

import numpy as np

from huatuo_ray import models
from huatuo_ray.conversations import conversation_turns
from huatuo_ray.llm.local_model import LOCAL_ALIAS
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.template import (
    Template,
    chat_template,
    huatuo_template,
)

IGNORE = -100
LOCAL_TOKENIZER = LOCAL_ALIAS


@lru_cache(maxsize=4)
def load_tokenizer(name: str, trust_remote_code: bool = False) -> Any:
    """``AutoTokenizer.from_pretrained`` once per process (offline when HF_HUB_OFFLINE is set).

    ``local:smollm2`` names the offline SmolLM2-135M-Instruct (``ensure_local_model``), for local runs.
    """
    from transformers import AutoTokenizer

    if name == LOCAL_TOKENIZER:
        from huatuo_ray.llm.local_model import ensure_local_model

        name = str(ensure_local_model())
    else:
        name = str(models.locate(name, "pack.tokenizer"))

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)


def make_template(cfg: PackConfig, tokenizer: Any) -> Template:
    """The configured template for this tokenizer."""
    if cfg.template == "chat":
        return chat_template(tokenizer)
    if not tokenizer.eos_token:
        raise ValueError(f"tokenizer {cfg.tokenizer!r} has no EOS token, which the huatuo template ends answers with")
    add_bos = cfg.add_bos if cfg.add_bos is not None else bool(tokenizer.bos_token)
    if add_bos and not tokenizer.bos_token:
        raise ValueError(f"pack.add_bos is true but tokenizer {cfg.tokenizer!r} has no BOS token")
    return huatuo_template(bos=tokenizer.bos_token if add_bos else "", eos=tokenizer.eos_token)


def pad_id(tokenizer: Any) -> int:
    """The padding id: the tokenizer's pad token, else its EOS (padding is never trained)."""
    for t in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if t is not None:
            return int(t)
    return 0


@dataclass
class Encoded:
    """A batch of encoded conversations, columnar. Row i: ``ids[offsets[i]:offsets[i+1]]``."""

    ids: np.ndarray  # int32, flat
    labels: np.ndarray  # int32, flat, -100 where not trained
    offsets: np.ndarray  # int64, len = rows + 1
    dropped: dict[int, str] = field(default_factory=dict)  # row -> reason (those rows have no tokens)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.labels[a:b]


@dataclass
class _Prepared:
    """A rendered batch: texts of the valid rows, their trained character spans, dropped rows."""

    texts: list[str] = field(default_factory=list)
    spans: list[list[tuple[int, int]]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    n: int = 0
    dropped: dict[int, str] = field(default_factory=dict)


class ConversationEncoder:
    """Encodes batches of conversations with one tokenizer and template (one per worker)."""

    def __init__(self, tokenizer: Any, template: Template):
        self.tokenizer, self.template = tokenizer, template
        self.backend = None
        if getattr(tokenizer, "is_fast", False):
            from tokenizers import Tokenizer

            self.backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
            self.backend.no_truncation()
            self.backend.no_padding()

    @classmethod
    def from_config(cls, cfg: PackConfig) -> "ConversationEncoder":
        """One encoder per process and (tokenizer, template) setting."""
        return _encoder(cfg.tokenizer, cfg.trust_remote_code, cfg.template, cfg.add_bos)

    def encode(self, conversations: Iterable[Any]) -> Encoded:
        """Validate, render and encode conversations; invalid ones are dropped with a reason (zero tokens)."""
        prep = self._prepare(conversations)
        return self._finish(prep, self._run(prep))

    def _prepare(self, conversations: Iterable[Any]) -> _Prepared:
        prep = _Prepared()
        for i, conv in enumerate(conversations):
            prep.n += 1
            turns, reason = conversation_turns(conv)
            if reason:
                prep.dropped[i] = reason
                continue
            text, s = self.template.render(turns)
            prep.texts.append(text)
            prep.spans.append(s)
            prep.rows.append(i)
        return prep

    def _run(self, prep: _Prepared) -> list[Any]:
        if self.backend is not None:
            return self.backend.encode_batch(prep.texts, add_special_tokens=False)
        return self._encode_pieces(prep.texts, prep.spans)

    def _finish(self, prep: _Prepared, encodings: list[Any]) -> Encoded:
        lengths = np.zeros(prep.n, dtype=np.int64)
        offsets = np.zeros(prep.n + 1, dtype=np.int64)
        if self.backend is None:
            lengths[prep.rows] = [len(p[0]) for p in encodings]
            np.cumsum(lengths, out=offsets[1:])
            cat = (lambda xs: np.concatenate(xs).astype(np.int32) if xs else np.zeros(0, np.int32))
            return Encoded(cat([p[0] for p in encodings]), cat([p[1] for p in encodings]), offsets, prep.dropped)
        lengths[prep.rows] = [len(e) for e in encodings]
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter(chain.from_iterable(e.ids for e in encodings), dtype=np.int32, count=int(offsets[-1]))
        trained = np.zeros(len(ids) + 1, dtype=np.int32)  # +1 / -1 at run edges, then a cumulative sum
        for e, sp, row in zip(encodings, prep.spans, prep.rows):
            base = offsets[row]
            for a, b in sp:
                ta, tb = _first_token_at_or_after(e, a, b), _last_token_before(e, a, b)
                if ta is not None and tb is not None and tb >= ta:
                    trained[base + ta] += 1
                    trained[base + tb + 1] -= 1
        labels = np.where(np.cumsum(trained[:-1]) > 0, ids, IGNORE).astype(np.int32)
        return Encoded(ids, labels, offsets, prep.dropped)

    def _encode_pieces(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for text, sp in zip(texts, spans):
            cuts = sorted({0, len(text), *[x for s in sp for x in s]})
            ids, labels = [], []
            for a, b in zip(cuts, cuts[1:]):
                piece = self.tokenizer.encode(text[a:b], add_special_tokens=False)
                trained = any(s <= a and b <= e for s, e in sp)
                ids += piece
                labels += piece if trained else [IGNORE] * len(piece)
            out.append((np.array(ids, dtype=np.int32), np.array(labels, dtype=np.int32)))
        return out


@lru_cache(maxsize=4)
def _encoder(tokenizer: str, trust_remote_code: bool, template: str, add_bos: bool | None) -> ConversationEncoder:
    cfg = PackConfig(tokenizer=tokenizer, trust_remote_code=trust_remote_code, template=template, add_bos=add_bos)
    tok = load_tokenizer(tokenizer, trust_remote_code)
    return ConversationEncoder(tok, make_template(cfg, tok))


def _first_token_at_or_after(enc: Any, a: int, b: int) -> int | None:
    """First token whose first character is in [a, b) (characters no token covers are skipped)."""
    for c in range(a, b):
        t = enc.char_to_token(c)
        if t is None:
            continue
        if enc.token_to_chars(t)[0] >= a:
            return t
        if t + 1 < len(enc.ids) and enc.token_to_chars(t + 1)[0] < b:
            return t + 1  # the token holding ``a`` started before the span: the next one is the first
        return None
    return None


def _last_token_before(enc: Any, a: int, b: int) -> int | None:
    """Last token whose first character is in [a, b)."""
    for c in range(b - 1, a - 1, -1):
        t = enc.char_to_token(c)
        if t is None:
            continue
        return t if enc.token_to_chars(t)[0] >= a else None
    return None
