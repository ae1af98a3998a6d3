"""The request cache under concurrent writers (several processes, as Ray workers on a shared directory)."""

import multiprocessing as mp

from huatuo_ray.llm.cache import RequestCache, request_key


def _writer(root, worker, n):
    cache = RequestCache(root)
    for i in range(n):
        key = request_key("m", [{"role": "user", "content": f"q{i}"}], {"temperature": 0})
        cache.put(key, {"result": {"text": f"a{i}"}, "by": worker})  # every worker writes the same keys
        assert cache.get(key)["result"]["text"] == f"a{i}"


def test_concurrent_writers_leave_whole_entries(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 200)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = RequestCache(tmp_path)
    assert len(cache) == 200
    assert not list(tmp_path.glob("*/.tmp-*"))
    assert sorted(e["result"]["text"] for e in cache.entries()) == sorted(f"a{i}" for i in range(200))


def test_key_covers_model_prompt_and_sampling():
    m = [{"role": "user", "content": "hi"}]
    base = request_key("a", m, {"temperature": 0.7, "seed": 0})
    assert base == request_key("a", m, {"seed": 0, "temperature": 0.7})
    assert base != request_key("b", m, {"temperature": 0.7, "seed": 0})
    assert base != request_key("a", [{"role": "user", "content": "hi!"}], {"temperature": 0.7, "seed": 0})
    assert base != request_key("a", m, {"temperature": 0.7, "seed": 1})
    assert RequestCache(None).get(base) is None
