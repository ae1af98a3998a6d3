from collections import Counter

import pytest

from huatuo_ray.errors import LedgerError
from huatuo_ray.ledger import Ledger, StageCount, reason_key


def balanced() -> Ledger:
    return Ledger(records=10, quarantined=Counter({"empty text": 2}), stages=[
        StageCount("density", rows_in=8, kept_in=5, rows_out=5, dropped=Counter({"density # < # (zh)": 3})),
        StageCount("segment", rows_in=5, kept_in=5, rows_out=12),
    ])


def test_balanced_ledger_passes_and_counts_documents():
    led = balanced()
    led.check()
    assert (led.kept_documents, led.dropped_documents, led.kept_rows) == (5, 3, 12)


@pytest.mark.parametrize("breakage", ["lost_row", "wrong_chain", "over_quarantine"])
def test_unbalanced_ledger_fails_loudly(breakage):
    led = balanced()
    if breakage == "lost_row":
        led.stages[0].kept_in = 4
    elif breakage == "wrong_chain":
        led.stages[1].rows_in = 6
    else:
        led.quarantined["x"] = 20
    with pytest.raises(LedgerError, match="do not add up"):
        led.check()


def test_merge_and_roundtrip():
    total = Ledger()
    total.merge(balanced())
    total.merge(Ledger.from_dict(balanced().to_dict()))
    total.check("run")
    assert total.records == 20 and total.kept_rows == 24 and total.quarantined["empty text"] == 4


def test_reason_key_groups_numbers():
    assert reason_key("density 0.012 < 0.080 (zh)") == "density # < # (zh)"
    assert reason_key("invalid UTF-8 at byte 17 of the line") == "invalid UTF-8 at byte # of the line"
