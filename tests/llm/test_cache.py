"""The request cache under concurrent writers (several processes, as Ray workers on a shared directory), and its
key: the model's identity (content of a local model, an endpoint's URL), not a served name."""

import multiprocessing as mp

from huatuo_ray.llm.backends import cache_identity
from huatuo_ray.llm.cache import RequestCache, request_key
from huatuo_ray.llm.config import LLMConfig


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


def local_model(path, vocab):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(f'{{"vocab_size": {vocab}}}', encoding="utf-8")
    (path / "model.safetensors").write_bytes(b"weights" * 1000)
    return str(path)


def test_the_cache_key_identifies_the_model(tmp_path):
    a = local_model(tmp_path / "a", 100)
    before = cache_identity(LLMConfig(backend="local", server={"model": a}))
    assert before == cache_identity(LLMConfig(backend="local", server={"model": a}))
    # the same directory, fine-tuned in place: the served name ("local") and the path are the same, the answers not
    local_model(tmp_path / "a", 200)
    assert before != cache_identity(LLMConfig(backend="local", server={"model": a}))
    # the engine backend with the same model and settings shares the cache; another dtype does not
    engine = LLMConfig(backend="vllm_engine", engine={"model": a, "dtype": "float32", "max_model_len": 2048})
    assert cache_identity(engine) == cache_identity(LLMConfig(backend="local", server={"model": a}))
    assert cache_identity(engine) != cache_identity(LLMConfig(backend="local", server={"model": a, "dtype": "bfloat16"}))
    # an endpoint: its model name and its base URL (another server may serve another model under the same name)
    ep = LLMConfig(backend="endpoint", endpoint={"base_url": "http://h1:8000/v1", "model": "m"})
    assert cache_identity(ep) == cache_identity(LLMConfig(backend="endpoint", endpoint={"base_url": "http://h1:8000/v1/",
                                                                                         "model": "m"}))
    for other in ({"base_url": "http://h2:8000/v1", "model": "m"}, {"base_url": "http://h1:8000/v1", "model": "n"}):
        assert cache_identity(ep) != cache_identity(LLMConfig(backend="endpoint", endpoint=other))
    # the offline default is named by the content of its packaged weights
    assert '"files": ["' in cache_identity(LLMConfig())
