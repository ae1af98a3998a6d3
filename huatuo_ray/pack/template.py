"""Conversation templates: render a conversation as one string plus the character spans that are trained.

A template is four strings found once per tokenizer: ``head`` (before the first question), ``h2g``
(between a question and its answer), ``g2h`` (between an answer and the next question) and ``tail``
(after the last answer), plus ``close``: the part of ``g2h``/``tail`` right after an answer that is
trained with it (the end-of-turn token, so the model learns to stop). A conversation renders as::

    head q1 h2g a1 g2h q2 h2g a2 ... tail        trained: every a_i + close

``chat`` finds the four strings by rendering a probe conversation with the tokenizer's own
``apply_chat_template`` (and refuses templates that are not regular this way); ``huatuo`` is the
HuatuoGPT format ``<问>：q\\n<答>：a</s>``. Rendering is plain string joining, so a whole batch is
rendered without calling the template engine per conversation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

_MARK = "\x01{}\x01"


@dataclass(frozen=True)
class Template:
    """The strings around turns, and which of them is trained."""

    name: str
    head: str
    h2g: str
    g2h: str
    tail: str
    close: str

    def render(self, turns: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int]]]:
        """``[(question, answer), ...]`` -> (text, trained character spans [start, end))."""
        parts, spans, pos = [self.head], [], len(self.head)
        for i, (q, a) in enumerate(turns):
            if i:
                parts.append(self.g2h)
                pos += len(self.g2h)
            parts += [q, self.h2g]
            pos += len(q) + len(self.h2g)
            parts.append(a)
            spans.append((pos, pos + len(a) + len(self.close)))
            pos += len(a)
        parts.append(self.tail)
        return "".join(parts), spans


def huatuo_template(bos: str = "", eos: str = "</s>") -> Template:
    """HuatuoGPT: ``<bos><问>：q1\\n<答>：a1<eos><问>：q2\\n<答>：a2<eos>``; answers and their EOS trained."""
    return Template("huatuo", head=f"{bos}<问>：", h2g="\n<答>：", g2h=f"{eos}<问>：", tail=eos, close=eos)


def chat_template(tokenizer: Any) -> Template:
    """The tokenizer's own chat template, reduced to four strings by rendering probe conversations."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no chat template: use template: huatuo")
    q = [_MARK.format(f"Q{i}") for i in range(3)]
    a = [_MARK.format(f"A{i}") for i in range(3)]

    def render(n: int) -> str:
        msgs = [m for i in range(n) for m in ({"role": "user", "content": q[i]}, {"role": "assistant", "content": a[i]})]
        return tokenizer.apply_chat_template(msgs, tokenize=False)

    three = render(3)
    try:
        head, rest = three.split(q[0])
        h2g, rest = rest.split(a[0])
        g2h, rest = rest.split(q[1])
        h2g_2, rest = rest.split(a[1])
        g2h_2, rest = rest.split(q[2])
        h2g_3, tail = rest.split(a[2])
    except ValueError:
        raise ValueError("the chat template does not render turns verbatim in order; use template: huatuo") from None
    close = os.path.commonprefix([g2h, tail]).rstrip()
    t = Template("chat", head, h2g, g2h, tail, close)
    regular = h2g == h2g_2 == h2g_3 and g2h == g2h_2 and all(
        t.render(list(zip(q[:n], a[:n])))[0] == render(n) for n in (1, 2))
    if not regular or not close:
        raise ValueError("the chat template is not regular (turn wrappers differ between rounds, or no end-of-turn "
                         "marker after an answer); use template: huatuo")
    return t
