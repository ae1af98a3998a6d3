"""Secrets stay out of every message, dump and log: one masking function, and a wrapper that keeps a key out of
reprs while it travels to Ray workers.

What counts as a secret:

- a value under a secret-like name: ``api_key``, ``access_key``, ``secret``, ``password``, ``credential``,
  ``authorization``, ``token`` / ``HF_TOKEN`` / ``auth_token`` (not ``max_tokens``, ``pad_token_id`` or a
  tokenizer's ``eos_token``), in mappings, in
  ``--api-key VALUE`` / ``--token=VALUE`` argument lists, and in ``name=value`` / ``name: value`` text;
  names ending in ``_env`` (``api_key_env``) hold the *name* of a variable and are kept;
- a value that looks like a key wherever it appears: ``sk-...``, ``hf_...``, GitHub and Slack tokens, AWS key ids,
  ``Bearer ...``;
- the user and password of a URI (``s3://KEY:SECRET@bucket/...`` becomes ``s3://***@bucket/...``).

:func:`mask` takes any JSON-like value (a recipe dump, settings, stats) or a string and returns a masked copy.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
_SPECIAL_TOKENS = {"bos", "eos", "pad", "unk", "sep", "cls", "mask", "start", "end", "image", "audio"}

_KEY_LIKE = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI-style (sk-..., sk-proj-...)
    re.compile(r"\bhf_[A-Za-z0-9]{8,}"),  # Hugging Face
    re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{8,}"),  # GitHub
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{8,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/=\-]{8,}"),
    re.compile(r"(?<=://)[^\s@\"']+(?=@)"),  # user[:password] of a URI (an AWS secret may hold '/')
]
_VALUE = r"""(?!-)[^\s"',;}\]]+"""
# --name value / --name=value (command-line flags), and name=value / name: value / "name": "value" in text; the
# name is checked by secret_name
_FLAG = re.compile(rf"(?<![\w-])(?P<name>--[A-Za-z][\w.-]*)(?P<sep>\s+|=)(?P<value>{_VALUE})")
_ASSIGN = re.compile(rf"""(?<![\w.-])(?P<name>[A-Za-z_][\w.-]*)(?P<sep>["']?\s*[=:]\s*["']?)(?P<value>{_VALUE})""")


def secret_name(name: str) -> bool:
    """Whether a key, flag or variable name says its value is a secret."""
    n = name.strip("-\"' ").lower().replace("-", "_")
    if not n or n.endswith("_env"):  # api_key_env: the name of the variable, not the key
        return False
    if any(w in n for w in ("api_key", "apikey", "access_key", "private_key", "secret", "password", "passwd",
                            "credential", "authorization")):
        return True
    parts = re.split(r"[_.]", n)
    # HF_TOKEN, auth_token, access_token, token; not max_tokens, pad_token_id or a tokenizer's eos_token
    return parts[-1] == "token" and (len(parts) == 1 or parts[-2] not in _SPECIAL_TOKENS)


def mask_text(text: str) -> str:
    """``text`` with key-like values and the values of secret-named assignments replaced by ``***``."""
    for pattern in _KEY_LIKE:
        text = pattern.sub(MASK, text)

    def assignment(m: re.Match) -> str:
        if m.group("value") == MASK or not secret_name(m.group("name")):
            return m.group(0)
        return f"{m.group('name')}{m.group('sep')}{MASK}"

    return _ASSIGN.sub(assignment, _FLAG.sub(assignment, text))


def mask(value: Any, name: str = "") -> Any:
    """A copy of a JSON-like value (or a string) with every secret masked; ``name`` is the key it is under."""
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        out, hide = [], False
        for item in value:  # ["--api-key", "VALUE"]: the item after a secret-named flag is the secret
            out.append(MASK if hide and isinstance(item, str) else mask(item, name))
            hide = isinstance(item, str) and item.startswith("-") and "=" not in item and secret_name(item)
        return out if isinstance(value, list) else tuple(out)
    if isinstance(value, str):
        if value and secret_name(name):
            return MASK
        return mask_text(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and secret_name(name):
        return MASK
    return value


class Secret:
    """A secret value (e.g. an API key handed to Ray actors): its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __reduce__(self):
        return (Secret, (self._value,))


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in every record it passes (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        masked = mask_text(msg)
        if masked != msg:
            record.msg, record.args = masked, None
        return True
