"""The endpoint's API key: read on the driver, handed to the Ray actors (whose processes lack the variable), and
in no file of the run directory and no line of the output. Real Ray, the real vLLM server behind a proxy."""

from __future__ import annotations

import os

import pytest

from tests.conftest import run_steps
from tests.llm.proxy import FaultProxy
from tests.unify.helpers import make_curated, medquad_texts, small_recipe

pytestmark = pytest.mark.slow
KEY = "sk-huatuo-test-0123456789abcdef"


def test_the_key_reaches_the_actors_and_nothing_else(ray_local, llm_server, tmp_path, monkeypatch, capfd):
    # set after Ray started: its worker processes do not have it, as on a cluster node without the variable
    monkeypatch.setenv("HUATUO_TEST_UNIFY_KEY", KEY)
    assert ray_local.get(ray_local.remote(lambda: os.environ.get("HUATUO_TEST_UNIFY_KEY")).remote()) is None
    texts = medquad_texts(2)
    curated = make_curated(tmp_path / "curated", {"u0": texts[:1], "u1": texts[1:]})
    proxy = FaultProxy(llm_server.base_url)
    try:
        recipe = small_recipe(proxy.base_url, "llm.endpoint.api_key_env=HUATUO_TEST_UNIFY_KEY",
                              f"run.dir={tmp_path / 'run'}")
        stats = run_steps(recipe, "unify", inputs={"curate": curated})["unify"]
        assert stats["sent"] == 2 and stats["llm_errors"] == 0
        assert proxy.auth == {f"Bearer {KEY}"}  # every request carried the key
    finally:
        proxy.close()
    leaked = [str(p) for p in (tmp_path / "run").rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert not leaked
    out, err = capfd.readouterr()
    assert KEY not in out and KEY not in err
