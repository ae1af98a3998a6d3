import pytest

from huatuo_ray.unify.jaccard import jaccard, unigrams


def test_chinese_is_compared_by_characters():
    assert unigrams("高血压，患者！") == {"高", "血", "压", "患", "者"}
    # {高,血,压,是,常,见,病} vs {高,血,压,很,常,见}: 5 shared of 8
    assert jaccard("高血压是常见病", "高血压很常见") == pytest.approx(5 / 8)


def test_english_is_compared_by_lowercased_words():
    assert unigrams("Insulin lowers blood-glucose. INSULIN!") == {"insulin", "lowers", "blood", "glucose"}
    assert jaccard("Insulin lowers glucose", "insulin raises glucose") == pytest.approx(2 / 4)


def test_mixed_text_uses_both_kinds_of_token():
    assert unigrams("CT检查显示肺炎 pneumonia") == {"ct", "检", "查", "显", "示", "肺", "炎", "pneumonia"}
    assert jaccard("做CT检查", "CT scan 检查") == pytest.approx(3 / 5)  # {做,ct,检,查} vs {ct,scan,检,查}


def test_edge_cases():
    assert jaccard("", "") == 0.0
    assert jaccard("abc", "") == 0.0
    assert jaccard("同样的文本", "同样的文本") == 1.0
    assert jaccard("English only", "只有中文") == 0.0  # different languages share nothing: the cross-lingual check's job
