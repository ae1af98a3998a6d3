"""The OpenAI-endpoint client against the real local vLLM server, directly and through a faulty proxy."""

import pytest

from huatuo_ray.llm import EndpointConfig, generate
from huatuo_ray.llm.cache import RequestCache
from tests.llm.proxy import FaultProxy

pytestmark = pytest.mark.slow
SAMPLING = {"temperature": 0.0, "max_tokens": 8, "seed": 0}


def ask(i):
    return [{"role": "user", "content": f"Name a fruit. ({i})"}]


@pytest.fixture
def proxy(llm_server):
    p = FaultProxy(llm_server.base_url)
    yield p
    p.close()


def endpoint(url, **kw):
    return EndpointConfig(base_url=url, model="local", concurrency=4, timeout_s=3, backoff_initial_s=0.05,
                          backoff_max_s=0.2, **kw)


def test_generate_and_never_resend_a_cached_request(proxy, tmp_path):
    ep = endpoint(proxy.base_url)
    first = generate([ask(i) for i in range(3)], SAMPLING, ep, cache_dir=str(tmp_path))
    assert all(r.ok and r.text and not r.cached for r in first), first
    assert sum(proxy.received.values()) == 3
    again = generate([ask(i) for i in range(4)], SAMPLING, ep, cache_dir=str(tmp_path))
    assert [r.text for r in again[:3]] == [r.text for r in first] and all(r.cached for r in again[:3])
    assert sum(proxy.received.values()) == 4  # only the new request went out


def test_another_endpoint_is_not_answered_from_this_cache(llm_server, proxy, tmp_path):
    """The same model name behind another URL may be another model: it gets its own requests."""
    direct = generate([ask(0), ask(1)], SAMPLING, endpoint(llm_server.base_url), cache_dir=str(tmp_path))
    assert all(r.ok and not r.cached for r in direct)
    via = generate([ask(0), ask(1)], SAMPLING, endpoint(proxy.base_url), cache_dir=str(tmp_path))
    assert all(r.ok and not r.cached for r in via) and sum(proxy.received.values()) == 2
    again = generate([ask(0), ask(1)], SAMPLING, endpoint(proxy.base_url), cache_dir=str(tmp_path))
    assert all(r.cached for r in again) and sum(proxy.received.values()) == 2


@pytest.mark.parametrize("fault,reason", [("http500", "http 500"), ("timeout", "timeout"),
                                          ("truncated", "malformed response")])
def test_each_fault_is_retried_then_reported_per_row(proxy, fault, reason, tmp_path, monkeypatch):
    proxy.fault_rate = 1.0
    monkeypatch.setattr(proxy.rng, "choice", lambda kinds: fault)
    proxy.hang_s = 4
    res = generate([ask(0), ask(1)], SAMPLING, endpoint(proxy.base_url, max_attempts=2), cache_dir=str(tmp_path))
    assert [r.error for r in res] == [reason, reason] and all(r.attempts == 2 for r in res)
    assert proxy.faults[fault] == 4
    assert len(RequestCache(tmp_path)) == 0  # failures are not cached: a rerun retries them


def test_one_bad_row_does_not_stop_the_batch(proxy, tmp_path):
    proxy.fault_rate, proxy.hang_s = 0.5, 4
    res = generate([ask(i) for i in range(12)], SAMPLING, endpoint(proxy.base_url, max_attempts=1),
                   cache_dir=str(tmp_path))
    assert len(res) == 12 and any(r.ok for r in res) and any(not r.ok for r in res)
    assert sum(r.ok for r in res) == len(RequestCache(tmp_path))


def test_prompt_over_the_context_is_not_retried(llm_server):
    res = generate([[{"role": "user", "content": "word " * 3000}]], SAMPLING, endpoint(llm_server.base_url))
    assert res[0].error == "prompt exceeds model context" and res[0].attempts == 1


def test_api_key_comes_from_the_environment_and_is_not_stored(proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("HUATUO_TEST_KEY", "sk-secret-123")
    res = generate([ask(0)], SAMPLING, endpoint(proxy.base_url, api_key_env="HUATUO_TEST_KEY"), cache_dir=str(tmp_path))
    assert res[0].ok and "Bearer sk-secret-123" in proxy.auth
    assert all("sk-secret" not in p.read_text() for p in tmp_path.rglob("*.json"))
    monkeypatch.delenv("HUATUO_TEST_KEY")
    with pytest.raises(ValueError, match="HUATUO_TEST_KEY"):
        generate([ask(0)], SAMPLING, endpoint(proxy.base_url, api_key_env="HUATUO_TEST_KEY"))
