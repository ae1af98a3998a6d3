"""Answer extraction: the option letter(s) a free-text reply chooses, or None when it names none.

Rules, in order; the first that finds an answer decides (``Extraction.rule`` says which):

1. ``statement``: an explicit answer statement, 答案是B / 正确答案：C / 答：C / "the answer is (C)" /
   "Answer: B" / "correct choice is C" / ``<answer>C</answer>`` / ``\\boxed{C}``. The *last* one counts, so a
   reply that argues about wrong options (or first considers one) before stating its answer is read by its
   conclusion. What follows the marker may be the option's text instead of its letter (答案是坏血病).
2. ``choice``: weaker statements, also last one first: 选D / 故选C / 我认为是C / …的是C / 而是C / "I would
   choose C" / "go with C" / "it is C" / "so C"; "C is correct" / C项正确 (C是首选) for positive questions and
   "D is the exception" / D项错误 for negative ones ("which is NOT ..."); a bold letter alone (``**C**``); a
   reply that starts with its letter (``C. 血电解质``) unless it starts an enumeration of the options.
3. ``option_text``: the options whose text the reply contains, minus mentions inside a longer option's text and
   negated mentions (而不是X, "not X", "unlike X", "X is not ..."); for a negative question a single negated
   mention is the answer. Exactly one option (or, for multi-answer items, a proper subset) decides.
4. ``letter``: standalone letters, after masking option and question text and letter-terms (维生素C, B超,
   "vitamin C", "E. coli", "A" as an article, 38°C). One distinct letter decides; several decide only for
   multi-answer items.

Otherwise the reply is unanswered (``pred`` None): it is never guessed. A final statement that hedges
(答案是A或C, "A or C", 可能是A，也可能是C), names several letters for a single-answer item, or contradicts itself
(``C. 30 to 40`` where option C is "25 to 30" and D is "30 to 40") is unanswered too.
Letters in a statement that begin an option's text (选B超 where B超 is option C) are read as that option.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Extraction:
    pred: str | None
    rule: str


_THINK = re.compile(r"<think>.*?</think>", re.S)
_NEG_QUESTION = re.compile(
    r"不正确|不是|不属于|不包括|不符合|不宜|不能|不会|不应|不可能|不恰当|不常见|不典型|错误的|除外|例外|意义不大|无关|"
    r"\bNOT\b|\bEXCEPT\b|(?i:\bexcept\b|\bnot\s+(?:a|an|the|true|correct|seen|associated|used|characteristic|typical)\b"
    r"|\bleast\b|\bfalse\b|\bincorrect\b)")
_PUNCT = re.compile(r"[\s:：\"'“”「」]*")
_FILLER = re.compile(r"[\s:：\"'“”「」]*(?:(?i:option|choice)\s*|选项\s*|(?:[Tt]he|an?|An)\s+)?")
_SEP = r"\s*(?:[、,，&+]|和|与|及|以及|(?i:,?\s*and)\b)?\s*"
_HEDGE = r"\s*(?:(?i:\bor\b)|或者?|还是|/)\s*[(\[【]?\s*{L}"
_LABEL_END = re.compile(r"[\s.:：)）．、]*")
_ALT_BEFORE = re.compile(r"(?:也|或者?|还是|(?i:\bor\b|\beither\b))[^。.\n]{0,6}$")

_STRONG = [
    r"(?:正确|最佳|最终|标准|参考|本题的?|此题的?|该题的?)?答案(?:应该|应当|应|就|显然|肯定|确实)?"
    r"(?:是|为|选择?|:|\s*[】\]]\s*:?)?",
    r"正确的?(?:选项|答案|选择|的是)(?:应该|应)?(?:是|为|:)?",
    r"(?<![问回解])答\s*:",
    r"(?i:\b(?:(?:correct|right|best|final|most\s+(?:likely|appropriate|accurate))\s+)?answer(?:\s+(?:choice|option))?s?"
    r"(?:\s+[a-z]+){0,3}?\s*(?:is|are|would\s+be|should\s+be|will\s+be|must\s+be|=|:|-|–|—)"
    r"(?:\s+(?:likely|probably|clearly|definitely|most\s+likely))?)",
    r"(?i:\b(?:correct|right|best|most\s+appropriate)\s+(?:option|choice|response)s?\s*(?:is|are|would\s+be|:))",
    r"<answer>",
    r"\\boxed\{",
]
_CHOICE = [
    r"(?:(?:我|本题|此题|该题|故|所以|因此|因而|综上|则|应当?|当|宜|可|首)\s*)?(?:选择?|选用)(?!项)",
    r"(?:我认为|我觉得|我的答案|应该是|应是|应为|可能是|最可能是|大概是|的是|的为|而是|所以是|因此是|故为)",
    r"(?i:\b(?:i\s+(?:would|will|'d|'ll)\s+(?:choose|pick|select|go\s+with)|i\s+(?:choose|pick|select)|"
    r"(?:choose|pick|select|go\s+with)|it(?:'s|\s+is|\s+must\s+be|\s+should\s+be|\s+would\s+be)|"
    r"(?:so|therefore|thus|hence),?(?:\s+the\s+answer\s+is)?|the\s+most\s+likely(?:\s+[a-z]+){0,2}\s+is|"
    r"my\s+choice\s+is))",
]
_NEGATED_CHOICE = re.compile(r"(?:不|不能|不应|不要|别|勿|没|未|非|排除|(?i:\bnot|n't|\bnever))\s*$")
_TERMS = (r"(?i:vitamin|hepatitis|type|group|class|grade|stage|phase|factor|lead|complex|protein|hb|cd)\s*{L}"
          r"(?![A-Za-z])|维生素\s*{L}|{L}\s*(?:超|型|族|级|类|期|组|区|带|点|波|段|链|细胞|蛋白|反应|抗原|抗体)|"
          r"{L}\.\s*(?i:coli)|°\s*[CF]|(?<![A-Za-z])A(?=\s+(?!(?:or|and|is|are|was|would|seems|could|might|nor|vs|"
          r"versus|also|because|to|through)\b)[a-z0-9])")
_NEG_BEFORE = re.compile(r"(?:不是|而非|而不是|并非|排除|不选|不考虑|不属于|(?i:\b(?:not|rather\s+than|instead\s+of|"
                         r"unlike|except|excluding|exclude|rule\s+out|ruled\s+out|isn't|no)\s+(?:the\s+|an?\s+)?))$")
_NEG_AFTER = re.compile(r"^(?:\s*(?:不是|不属于|不正确|错误|不对|可排除|排除|除外|不符合)|"
                        r"(?i:\s*(?:is|are|was)\s+(?:not|incorrect|wrong|unlikely|less\s+likely|false)\b))")


@lru_cache(maxsize=256)
def _patterns(letters: str) -> dict[str, re.Pattern]:
    L = f"[{letters}]"
    let = rf"(?<![A-Za-z0-9]){L}(?![A-Za-z0-9]|-[A-Za-z0-9]|'[a-z]|\.[a-z])"
    run = rf"(?<![A-Za-z0-9])(?:{L}){{2,}}(?![A-Za-z0-9])"
    tok = rf"[(\[【]?\s*(?:{run}|{let})\s*[)\]】]?"
    group = rf"{tok}(?:{_SEP}{tok})*"
    pos_words = r"(?:正确|对的|最佳|最合适|最恰当|首选|符合题意|当选)"
    neg_words = r"(?:错误|不正确|不对|不是|不属于|不符合|除外|例外)"
    span = r"(?:(?!不|非|没|未|错)[^，。；,;.\n]){0,12}?"
    zh_polar = rf"(?:选项\s*)?({group})\s*(?:选项|项)?{span}(?:的说法|说法|描述|表述|叙述)?(?:是|为)?"
    en_polar = rf"(?:(?i:option|choice)\s*)?({group})(?:\s*\([^)]{{0,40}}\))?\s*(?i:is|are|would\s+be|seems|appears)\s+"
    return {
        "let": re.compile(let), "group": re.compile(group), "hedge": re.compile(_HEDGE.format(L=L)),
        "strong": re.compile("|".join(_STRONG)), "choice": re.compile("|".join(_CHOICE)),
        "polar_pos": re.compile(rf"{zh_polar}{pos_words}|{en_polar}(?i:the\s+)?(?i:(?:most\s+)?(?:correct|right|true|"
                                rf"best|appropriate|accurate)\b)"),
        "polar_neg": re.compile(rf"{zh_polar}{neg_words}|{en_polar}(?i:the\s+)?(?i:exception|odd\s+one\s+out|"
                                rf"incorrect|false|wrong|not)\b"),
        "bold": re.compile(rf"\*\*\s*(?:(?i:option|choice|answer)\s*:?\s*)?[(\[]?\s*({let})\s*[)\]]?\s*[.。:]?\s*\*\*"
                           rf"(?=\s*(?:$|\n|[。.!！,，]))"),
        "lead": re.compile(rf"^\s*(?:\(({let})\)|({group})(?=\s*[.:、)．]|\s*$|\s+[-–—]|\s*\n))"),
        "label": re.compile(rf"\n\s*[(\[]?({let})\s*[)\].:、．]"),
        "terms": re.compile(_TERMS.format(L=L)),
        "tokens": re.compile(rf"{run}|{let}"),
    }


def is_negative_question(question: str | None) -> bool:
    """True for questions that ask for the wrong / exceptional option (不正确的是, "NOT", "EXCEPT", "least")."""
    return bool(question) and bool(_NEG_QUESTION.search(question))


def normalise(reply: str) -> str:
    """NFKC (full-width letters and colons become ASCII) without <think> blocks."""
    return _THINK.sub(" ", unicodedata.normalize("NFKC", reply or ""))


class _Reader:
    def __init__(self, reply: str, options: dict[str, str], multi: bool, question: str | None):
        self.t = normalise(reply)
        self.s = self.t.replace("*", " ")  # same length: positions agree between the two
        self.options, self.multi = options, multi
        self.negative = is_negative_question(question)
        self.question = unicodedata.normalize("NFKC", question or "")
        self.p = _patterns("".join(sorted(options)))
        self.texts = sorted(((k, _option_regex(v)) for k, v in options.items() if _matchable(v)),
                            key=lambda kv: -len(options[kv[0]]))

    # -- helpers --------------------------------------------------------------------------------------
    def text_at(self, pos: int) -> str | None:
        """The option whose text starts at ``pos`` (longest first)."""
        for k, rx in self.texts:
            if rx.match(self.s, pos):
                return k
        return None

    def parse_at(self, pos: int) -> tuple[str, str] | None:
        """(letters, flag) of what an answer marker ending at ``pos`` points to: option text or letters; the flag
        is "", "hedged" (A or C) or "conflict"."""
        starts = (_PUNCT.match(self.s, pos).end(), _FILLER.match(self.s, pos).end())  # without / with filler words
        for p in dict.fromkeys(starts):
            hit = self.text_at(p)
            if hit is not None:
                return hit, ""
            g = self.p["group"].match(self.s, p)
            if g:
                letters = self.letters_in(g)
                if self.p["hedge"].match(self.s, g.end()):
                    return letters, "hedged"
                return letters, self.conflict(letters, g.end())
        return None

    def conflict(self, letters: str, end: int) -> str:
        """"conflict" when a single letter is followed by another option's text (C. 30 to 40, C being 25 to 30)."""
        if len(letters) != 1:
            return ""
        after = self.text_at(_LABEL_END.match(self.s, end).end())
        return "conflict" if after is not None and after != letters else ""

    def letters_in(self, m: re.Match, group: int = 0) -> str:
        out = []
        for t in self.p["tokens"].finditer(self.s, m.start(group), m.end(group)):
            hit = self.text_at(t.start())
            out.extend(hit if hit else t.group(0))
        return "".join(sorted(set(out)))

    def decide(self, letters: str, flag: str, rule: str) -> Extraction:
        if flag:
            return Extraction(None, flag)
        if len(letters) > 1 and not self.multi:
            return Extraction(None, "hedged")
        return Extraction(letters, rule)

    # -- rules ----------------------------------------------------------------------------------------
    def statement(self) -> Extraction | None:
        found = [r for m in self.p["strong"].finditer(self.s) if (r := self.parse_at(m.end()))]
        return self.decide(*found[-1], "statement") if found else None

    def choice(self) -> Extraction | None:
        cands: list[tuple[int, str, str]] = []
        for m in self.p["choice"].finditer(self.s):
            if _NEGATED_CHOICE.search(self.s[max(0, m.start() - 4):m.start()]):
                continue
            r = self.parse_at(m.end())
            if r:
                cands.append((m.start(), *r))
        polar = self.p["polar_neg"] if self.negative else self.p["polar_pos"]
        for m in polar.finditer(self.s):
            g = 1 if m.group(1) is not None else 2
            cands.append((m.start(g), self.letters_in(m, g), ""))
        for m in self.p["bold"].finditer(self.t):
            cands.append((m.start(), m.group(1), ""))
        lead = self.p["lead"].match(self.s)
        if lead:
            g = 1 if lead.group(1) is not None else 2
            letters = self.letters_in(lead, g)
            others = {x.group(1) for x in self.p["label"].finditer(self.s)} - set(letters)
            if not others and not self.text_at(lead.start(g)):
                cands.append((lead.start(), letters, self.conflict(letters, lead.end(g))))
        if not cands:
            return None
        cands.sort(key=lambda c: c[0])
        pos, letters, flag = cands[-1]
        alternative = _ALT_BEFORE.search(self.s[max(0, pos - 8):pos])
        if alternative and {c[1] for c in cands[:-1]} - {letters}:
            flag = flag or "hedged"
        return self.decide(letters, flag, "choice")

    def mentions(self) -> dict[str, list[tuple[int, int, bool]]]:
        """Option-text occurrences (start, end, negated), without those inside a longer option's text."""
        taken: list[tuple[int, int]] = []
        found: dict[str, list[tuple[int, int, bool]]] = {}
        for k, rx in self.texts:
            for m in rx.finditer(self.s):
                a, b = m.span()
                if any(a < y and x < b for x, y in taken):
                    continue
                taken.append((a, b))
                neg = bool(_NEG_BEFORE.search(self.s[max(0, a - 14):a]) or _NEG_AFTER.search(self.s[b:b + 20]))
                found.setdefault(k, []).append((a, b, neg))
        return found

    def option_text(self, found: dict) -> tuple[Extraction | None, set[str]]:
        if self.negative:
            negated = {k for k, occ in found.items() if any(n for _, _, n in occ)}
            if len(negated) == 1:
                return Extraction(next(iter(negated)), "option_text"), negated
        picked = {k for k, occ in found.items() if any(not n for _, _, n in occ)}
        if len(picked) == 1 or (self.multi and picked and len(picked) < len(self.options)):
            return Extraction("".join(sorted(picked)), "option_text"), picked
        if len(picked) > 1 and not self.multi:
            best = self.echoing_clause({k: found[k] for k in picked})
            if best:
                return Extraction(best, "option_text"), picked
        return None, picked

    def echoing_clause(self, found: dict) -> str | None:
        """Of several options mentioned, the one whose clause alone repeats the question's words, by a margin
        ("the axillary nerve is most commonly injured in surgical neck fractures, while the radial ...")."""
        if not self.question:
            return None
        q = _content_tokens(self.question)
        score: dict[str, int] = {}
        for a, b in _clauses(self.s):
            inside = [(k, x, y) for k, occ in found.items() for x, y, n in occ if a <= x and y <= b and not n]
            if not inside:
                continue
            clause = list(self.s[a:b])
            for _, x, y in inside:
                clause[x - a:y - a] = " " * (y - x)
            overlap = len(q & _content_tokens("".join(clause)))
            for k, _, _ in inside:
                score[k] = max(score.get(k, 0), overlap)
        ranked = sorted(score.items(), key=lambda kv: -kv[1])
        if len(ranked) > 1 and ranked[0][1] >= 2 and ranked[0][1] >= ranked[1][1] + 2:
            return ranked[0][0]
        return None

    def letter(self, found: dict) -> set[str]:
        masked = list(self.s)
        spans = [(a, b) for occ in found.values() for a, b, _ in occ]
        if len(self.question) >= 4:
            spans += [m.span() for m in re.finditer(re.escape(self.question), self.s)]
        spans += [m.span() for m in self.p["terms"].finditer(self.s)]
        for a, b in spans:
            masked[a:b] = " " * (b - a)
        text = "".join(masked)
        return {c for t in self.p["tokens"].finditer(text) for c in t.group(0)}

    def read(self) -> Extraction:
        for rule in (self.statement, self.choice):
            got = rule()
            if got is not None:
                return got
        found = self.mentions()
        by_text, picked = self.option_text(found)
        letters = self.letter(found)
        if self.multi and letters and picked <= letters and (len(letters) < len(self.options) or _letters_only(self.s)):
            return Extraction("".join(sorted(letters)), "letter")
        if by_text is not None:
            return by_text
        if len(letters) == 1:
            return Extraction(next(iter(letters)), "letter")
        return Extraction(None, "ambiguous" if letters or picked else "none")


def _option_regex(text: str) -> re.Pattern:
    t = unicodedata.normalize("NFKC", text).strip().rstrip("。.")
    body = r"\s*".join(re.escape(w) for w in t.split()) if " " in t else re.escape(t)
    head = r"(?<![A-Za-z0-9])" if t[:1].isascii() and t[:1].isalnum() else ""
    tail = r"(?![A-Za-z0-9])" if t[-1:].isascii() and t[-1:].isalnum() else ""
    return re.compile(head + body + tail, re.I)


_STOP = set("the a an of in on to for with and or is are was be by at as which what who following most this that "
            "these from it its not".split())
_CLAUSE = re.compile(r"[。；;，,!?！？\n]|(?i:\b(?:while|whereas|but|although)\b)|但是?|而")


def _clauses(s: str) -> list[tuple[int, int]]:
    cuts = [0] + [m.start() for m in _CLAUSE.finditer(s)] + [len(s)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _content_tokens(text: str) -> set[str]:
    """English content words and Chinese character bigrams, for comparing a clause with the question."""
    words = {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}
    han = re.findall(r"[\u4e00-\u9fff]+", text)
    return words | {h[i:i + 2] for h in han for i in range(len(h) - 1)}


def _matchable(option: str) -> bool:
    """Option texts long enough to look for (one Chinese character is: 木, 火; one Latin letter is not)."""
    t = option.strip()
    return len(t) >= 2 or bool(re.fullmatch(r"[\u4e00-\u9fff]", t))


def _letters_only(s: str) -> bool:
    return bool(re.fullmatch(r"[\sA-Z、,，和与及and&+()]*", s))


def extract_answer(reply: str, options: dict[str, str], multi: bool = False, question: str | None = None
                   ) -> Extraction:
    """The letter(s) ``reply`` chooses among ``options`` (sorted, e.g. "C" or "ABD"), or None; see the module doc."""
    if not options:
        return Extraction(None, "none")
    return _Reader(reply, options, multi, question).read()
