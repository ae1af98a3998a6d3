import math
from importlib import resources

import pytest

from huatuo_ray.curate.density.lexicon import (
    LexiconError,
    frequency_to_weight,
    load_lexicon,
    merge_lexicons,
    parse_lexicon,
)


def test_weights_defaults_comments_blank_lines():
    text = "# a comment\n\nfever\t0.5\ncough\n  # indented comment\nrash\t1\n"
    assert parse_lexicon(text) == {"fever": 0.5, "cough": 1.0, "rash": 1.0}


def test_case_folding_whitespace_and_duplicates_keep_max():
    text = "Heart  Attack\t0.2\nheart attack\t0.7\nHEART ATTACK\t0.4\nAspirin\t0.3\n"
    assert parse_lexicon(text) == {"heart attack": 0.7, "aspirin": 0.3}


def test_frequency_column_auto_detected_and_converted():
    lex = parse_lexicon("精神\t606946\n肾功能衰竭\t1417\n复脉定胶囊\t1\n")
    assert lex["精神"] == 0.0  # the most frequent term of the file
    assert lex["肾功能衰竭"] == pytest.approx(1 - math.log1p(1417) / math.log1p(606946))
    assert lex["复脉定胶囊"] == pytest.approx(1 - math.log(2) / math.log1p(606946))
    assert 0 < lex["肾功能衰竭"] < lex["复脉定胶囊"] < 1


def test_frequency_ref_and_forced_kinds():
    lex = parse_lexicon("a\t10\nb\t100\n", frequency_ref=1000)
    assert lex["b"] == pytest.approx(frequency_to_weight(100, 1000))
    assert frequency_to_weight(5000, 1000) == 0.0  # clipped
    # a file of 0/1 integers is a weight file in auto mode, a frequency file when forced
    assert parse_lexicon("a\t1\nb\t0\n") == {"a": 1.0, "b": 0.0}
    forced = parse_lexicon("a\t1\nb\t0\n", column="frequency")
    assert forced["b"] == 1.0 and forced["a"] == 0.0
    with pytest.raises(LexiconError, match=r"f\.txt:1: frequency must be a non-negative integer, got '0.5'"):
        parse_lexicon("a\t0.5\n", source="f.txt", column="frequency")
    with pytest.raises(LexiconError, match=r"f\.txt:2: weight '300' outside \[0, 1\]"):
        parse_lexicon("a\t0.5\nb\t300\n", source="f.txt", column="weight")


@pytest.mark.parametrize(
    "text, message",
    [
        ("ok\t0.5\nbad\t0.5\textra\n", r"lex\.txt:2: expected 'term' or 'term<TAB>value', got 3"),
        ("ok\nbad\tabc\n", r"lex\.txt:2: second column must be a number, got 'abc'"),
        ("# c\nbad\t1.5\n", r"lex\.txt:2: weight '1.5' outside \[0, 1\]"),
        ("bad\t-0.1\n", r"lex\.txt:1: weight '-0.1' outside"),
        ("a\t0.5\nb\t300\n", r"lex\.txt:2: weight '300' outside \[0, 1\] \(mixing weights and integer"),
        ("a\t300\nb\t0.5\n", r"lex\.txt:1: weight '300' outside \[0, 1\] \(mixing"),
        ("\t0.5\n", r"lex\.txt:1: empty term"),
        ("a\t\n", r"lex\.txt:1: empty second column"),
        ("a\tnan\n", r"lex\.txt:1: weight 'nan' outside"),
    ],
)
def test_malformed_lines_name_file_and_line(text, message):
    with pytest.raises(LexiconError, match=message):
        parse_lexicon(text, source="lex.txt")


def test_load_from_path_and_missing_file(tmp_path):
    p = tmp_path / "terms.tsv"
    p.write_text("fever\t0.25\n", encoding="utf-8")
    assert load_lexicon(p) == {"fever": 0.25}
    with pytest.raises(LexiconError, match="not found"):
        load_lexicon(tmp_path / "nope.tsv")
    with pytest.raises(LexiconError, match="not found"):
        load_lexicon("builtin:nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("ok\nfever\tx\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=rf"{bad.name}:2:"):
        load_lexicon(bad)


def test_merge_keeps_max():
    assert merge_lexicons([{"a": 0.2, "b": 1.0}, {"a": 0.6}]) == {"a": 0.6, "b": 1.0}


BUILTINS = ["zh_thuocl_medical.tsv", "en_wikidata_disease.tsv", "en_wikidata_other.tsv", "en_clinical_general.tsv"]


def test_builtin_lexicons_packaged_small_and_weighted():
    folder = resources.files("huatuo_ray").joinpath("data", "lexicons")
    assert folder.joinpath("NOTICE.md").read_text(encoding="utf-8").count("THUNLP") >= 1
    for name in BUILTINS:
        f = folder.joinpath(name)
        assert len(f.read_bytes()) < 1_000_000, name
    zh = load_lexicon("builtin:zh_thuocl_medical.tsv")
    assert len(zh) == 18749
    # general words of THUOCL's head are down-weighted, specific terms keep full weight
    assert zh["医院"] < 0.05 and zh["精神"] < 0.05 and zh["检查"] < 0.15
    assert zh["肾功能衰竭"] == 1.0
    en = merge_lexicons(load_lexicon(f"builtin:{n}") for n in BUILTINS[1:])
    assert en["back"] == 0.0 and en["hand"] == 0.0
    assert en["thoracoscopy"] == 1.0 and en["tetracycline"] == 1.0
    assert en["patient"] < en["diagnosis"] < en["contraindication"]
