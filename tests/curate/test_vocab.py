"""Vocabulary import (MeSH, SPECIALIST, plain lists) into weighted lexicons, and the packaged English defaults."""

from __future__ import annotations

import gzip

import pytest

from huatuo_ray.curate.density.config import DEFAULT_LEXICONS, DensityConfig
from huatuo_ray.curate.density.lexicon import load_lexicon
from huatuo_ray.curate.density.stage import DensityFilter
from huatuo_ray.curate.density.vocab import read_terms, singular, uninvert, variants
from huatuo_ray.errors import InputError

MESH_XML = """<?xml version="1.0"?>
<DescriptorRecordSet>
 <DescriptorRecord><DescriptorUI>D014182</DescriptorUI>
  <DescriptorName><String>Transplantation, Autologous</String></DescriptorName>
  <ConceptList><Concept><TermList>
   <Term><String>Autografting</String></Term><Term><String>Autologous Transplantation</String></Term>
  </TermList></Concept></ConceptList>
 </DescriptorRecord>
 <DescriptorRecord><DescriptorUI>D016016</DescriptorUI>
  <DescriptorName><String>Proportional Hazards Models</String></DescriptorName>
 </DescriptorRecord>
</DescriptorRecordSet>
"""
MESH_ASCII = """*NEWRECORD
RECTYPE = D
MH = Tissue Donors
ENTRY = Donors, Tissue|T098|NON|EQV|NLM (1992)|911209|abcdef
PRINT ENTRY = Organ Donors|T098|NON|NRW|NLM (1992)|911209|abcdef
MN = N02.421.143
"""
SPECIALIST = """{base=reamer
entry=E0052413
\tcat=noun
\tvariants=reg
}
{base=anaesthetize
spelling_variant=anesthetize
entry=E0008882
\tcat=verb
}
"""


def test_uninvert_singular_variants():
    assert uninvert("Transplantation, Autologous") == "Autologous Transplantation"
    assert uninvert("Anti-Inflammatory Agents, Non-Steroidal") == "Non-Steroidal Anti-Inflammatory Agents"
    assert [singular(w) for w in ("Studies", "Donors", "Analysis", "Ribs", "Viruses", "mass", "Cells")] == [
        "Study", "Donor", "Analysis", "Rib", "Virus", "mass", "Cell"]
    assert variants("Tissue Donors") == ["Tissue Donors", "Tissue Donor"]
    assert variants("Donors, Tissue") == ["Tissue Donors", "Tissue Donor"]


def test_readers(tmp_path):
    xml = tmp_path / "desc2025.xml.gz"
    with gzip.open(xml, "wt", encoding="utf-8") as fh:
        fh.write(MESH_XML)
    assert read_terms(xml, "mesh-xml") == [
        "Autologous Transplantation", "Autografting", "Autologous Transplantation",
        "Proportional Hazards Models", "Proportional Hazards Model"]
    asc = tmp_path / "d2025.bin"
    asc.write_text(MESH_ASCII, encoding="utf-8")
    assert read_terms(asc, "mesh-ascii") == ["Tissue Donors", "Tissue Donor"] * 2 + ["Organ Donors", "Organ Donor"]
    lex = tmp_path / "LEXICON"
    lex.write_text(SPECIALIST, encoding="utf-8")
    assert read_terms(lex, "specialist") == ["reamer", "anaesthetize", "anesthetize"]
    lrwd = tmp_path / "LRWD"
    lrwd.write_text("reamer|E0052413|\nhazard ratio|E0599995|\n", encoding="utf-8")
    assert read_terms(lrwd, "specialist") == ["reamer", "hazard ratio"]
    csv = tmp_path / "mesh.csv"
    csv.write_text('id,scheme,subject\nx,MeSH,"Insurance, Health"\n', encoding="utf-8")
    assert read_terms(csv, "mesh-csv") == ["Health Insurance"]
    with pytest.raises(InputError, match="unknown vocabulary format"):
        read_terms(csv, "umls")
    with pytest.raises(InputError, match="not found"):
        read_terms(tmp_path / "missing", "lines")
    with pytest.raises(InputError, match="'subject' or 'term' column"):
        (tmp_path / "bad.csv").write_text("a,b\n1,2\n", encoding="utf-8")
        read_terms(tmp_path / "bad.csv", "mesh-csv")


def test_packaged_english_lexicons_hold_research_vocabulary():
    """The words the issue found missing (research abstracts) are in the default English lexicons, weighted."""
    terms = {}
    for spec in DEFAULT_LEXICONS["en"]:
        for t, w in load_lexicon(spec).items():
            terms[t] = max(w, terms.get(t, 0.0))
    for t in ("hazard ratio", "cox regression", "autologous", "graft", "body mass index", "bmi", "reamer",
              "proportional hazards model", "tissue donor", "autologous transplantation", "confidence interval"):
        assert terms.get(t, 0) > 0.3, t
    for common in ("analysis", "model", "study", "method"):  # too common to count
        assert terms.get(common, 0) == 0, common


def test_research_abstract_style_text_is_kept():
    f = DensityFilter(DensityConfig())
    text = ("In this retrospective cohort of 412 patients, autologous grafts harvested with a reamer had lower "
            "contamination rates than allografts. Cox regression adjusted for BMI and smoking gave a hazard "
            "ratio of 0.62 (95% CI 0.41-0.93) for graft failure during a median follow-up of 3.1 years.")
    assert f.filter({"text": text, "language": "en"})[0]


def test_weights_need_wordfreq(monkeypatch):
    import sys

    from huatuo_ray.curate.density.vocab import en_weights

    monkeypatch.setitem(sys.modules, "wordfreq", None)  # as if not installed
    with pytest.raises(InputError, match="pip install 'wordfreq"):
        en_weights(["hazard ratio"])


def test_weights_follow_general_frequency(monkeypatch, tmp_path):
    """Specificity ramp with a stand-in frequency table: common words 0, rare words 1, phrases rarer than words."""
    import sys
    import types

    from typer.testing import CliRunner

    from huatuo_ray.cli import app
    from huatuo_ray.curate.density.vocab import en_weights

    freq = {"the": 5e-2, "hazard": 1e-5, "ratio": 3e-5, "reamer": 1e-8, "hospital": 3e-4}
    monkeypatch.setitem(sys.modules, "wordfreq", types.SimpleNamespace(word_frequency=lambda w, lang: freq.get(w, 0.0)))
    w = en_weights(["The", "Hospital", "reamer", "hazard", "hazard ratio", "unknownword", "a b c d e f g h i"])
    assert w["the"] == 0.0 and w["hospital"] == 0.0 and w["reamer"] == 1.0 and w["unknownword"] == 1.0
    assert 0.0 < w["hazard"] < w["hazard ratio"] == 1.0
    assert "a b c d e f g h i" not in w  # over MAX_TOKENS words
    src = tmp_path / "LEXICON"
    src.write_text(SPECIALIST, encoding="utf-8")
    out = tmp_path / "en_specialist.tsv"
    res = CliRunner().invoke(app, ["density", "import-lexicon", str(src), str(out), "--format", "specialist"])
    assert res.exit_code == 0, res.output
    assert load_lexicon(str(out)) == {"reamer": 1.0, "anaesthetize": 1.0, "anesthetize": 1.0}
