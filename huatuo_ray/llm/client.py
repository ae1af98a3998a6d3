"""Async client for OpenAI-compatible chat endpoints: concurrency and QPS limits, retries, per-row errors.

Every request first looks in the :class:`~huatuo_ray.llm.cache.RequestCache`; a miss is sent with at most
``concurrency`` requests in flight and at most ``qps`` starts per second. Server errors (5xx, 429, 408),
timeouts, dropped connections and malformed responses (truncated JSON, no ``choices``) are retried with
exponential backoff and jitter (tenacity); what still fails comes back as an :class:`LLMResult` with
``error`` set, never as an exception, so one bad row never stops a batch. A 400 (e.g. a prompt over the
model's context) is not retried. The API key comes from the environment variable the config names
(``llm.endpoint.api_key_env``), read by the process that builds the client unless the caller passes the key (the
unify driver reads it and hands it to its Ray actors, whose nodes need not have the variable); it is never
logged or stored. The cache key is the model's identity (``identity``), not only its served name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from huatuo_ray import metrics
from huatuo_ray.llm.cache import RequestCache, request_key
from huatuo_ray.llm.config import EndpointConfig, SamplingConfig

log = logging.getLogger(__name__)
Messages = list[dict[str, str]]
CONTEXT_REASON = "prompt exceeds model context"


@dataclass
class LLMResult:
    """One request's outcome: ``text`` when it succeeded, else ``error`` (a short reason)."""

    text: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    attempts: int = 0
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MalformedResponse(RuntimeError):
    """A 2xx response that is not a chat completion (truncated JSON, no choices, no message)."""


class ContextOverflow(RuntimeError):
    """The server refused the prompt as longer than the model's context."""


def endpoint_identity(cfg: EndpointConfig, model: str | None = None) -> str:
    """The cache identity of a model behind an endpoint: its name there and the endpoint's base URL."""
    return json.dumps({"settings": {"model": model or cfg.model}, "files": {}, "base_url": cfg.base_url.rstrip("/")},
                      sort_keys=True)


def read_api_key(cfg: EndpointConfig) -> str:
    """The API key from the environment variable ``llm.endpoint.api_key_env`` names ('' when it names none)."""
    if not cfg.api_key_env:
        return ""
    key = os.environ.get(cfg.api_key_env, "")
    if not key:
        raise ValueError(f"llm.endpoint.api_key_env names {cfg.api_key_env}, which is not set")
    return key


def sampling_params(sampling: SamplingConfig | dict[str, Any], attempt: int = 0) -> dict[str, Any]:
    """The request's sampling parameters; regeneration attempt k shifts the seed by k."""
    p = sampling.model_dump() if isinstance(sampling, SamplingConfig) else dict(sampling)
    if p.get("seed") is not None:
        p["seed"] = int(p["seed"]) + attempt
    return p


def _retryable(exc: BaseException) -> bool:
    import openai  # loaded on first use: importing it takes about half a second
    if isinstance(exc, (openai.APIConnectionError, MalformedResponse, openai.APIResponseValidationError, ValueError)):
        return True  # APITimeoutError is an APIConnectionError; JSON decode errors are ValueErrors
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409, 429)
    return False


def _reason(exc: BaseException) -> str:
    import openai
    if isinstance(exc, ContextOverflow):
        return CONTEXT_REASON
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    if isinstance(exc, openai.APIStatusError):
        return f"http {exc.status_code}"
    if isinstance(exc, (MalformedResponse, ValueError, openai.APIResponseValidationError)):
        return "malformed response"
    return type(exc).__name__


class _RateLimiter:
    """At most ``qps`` request starts per second (evenly spaced)."""

    def __init__(self, qps: float | None):
        self.interval = 1.0 / qps if qps else 0.0
        self.next_t = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            delay = self.next_t - now
            self.next_t = max(now, self.next_t) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class ChatClient:
    """Cached, rate-limited, retrying chat-completions client; create and use inside one event loop."""

    def __init__(self, cfg: EndpointConfig, model: str | None = None, cache: RequestCache | None = None,
                 identity: str | None = None, api_key: str | None = None):
        self.cfg = cfg
        self.model = model or cfg.model
        if not self.model:
            raise ValueError("no model name: set llm.endpoint.model")
        self.cache = cache if cache is not None else RequestCache(None)
        self.identity = identity or endpoint_identity(cfg, self.model)  # what keys the cache
        if api_key is None:  # the caller (e.g. the driver, for Ray actors) may have read it already
            api_key = read_api_key(cfg)
        import openai

        self._client = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=api_key or "EMPTY", max_retries=0,
                                          timeout=cfg.timeout_s)
        self._sem = asyncio.Semaphore(cfg.concurrency)
        self._rate = _RateLimiter(cfg.qps)
        self.stats = {"requests": 0, "sent": 0, "cache_hits": 0, "errors": 0, "retries": 0}

    async def chat(self, messages: Messages, sampling: SamplingConfig | dict[str, Any], attempt: int = 0) -> LLMResult:
        """One request, from the cache when it was answered before."""
        params = sampling_params(sampling, attempt)
        key = request_key(self.identity, messages, params)
        self.stats["requests"] += 1
        hit = self.cache.get(key)
        if hit is not None:
            self.stats["cache_hits"] += 1
            metrics.inc("huatuo_llm_requests", outcome="cached")
            return LLMResult(**{**hit["result"], "cached": True})
        result = await self._send(messages, params)
        metrics.inc("huatuo_llm_requests", outcome="answered" if result.ok else "failed")
        if result.ok:
            self.cache.put(key, {"model": self.model, "identity": self.identity, "messages": messages,
                                 "sampling": params, "result": result.to_dict()})
        else:
            self.stats["errors"] += 1
        return result

    async def chat_many(self, requests: list[Messages], sampling: SamplingConfig | dict[str, Any]) -> list[LLMResult]:
        return list(await asyncio.gather(*(self.chat(m, sampling) for m in requests)))

    async def _send(self, messages: Messages, params: dict[str, Any]) -> LLMResult:
        attempts = 0
        body = {k: v for k, v in params.items() if v is not None}
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.cfg.max_attempts),
                wait=wait_exponential_jitter(multiplier=self.cfg.backoff_initial_s, max=self.cfg.backoff_max_s),
                retry=retry_if_exception(_retryable), reraise=True,
            ):
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        self.stats["retries"] += 1
                        metrics.inc("huatuo_llm_requests", outcome="retried")
                    return await self._once(messages, body, attempts)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a per-row error
            log.debug("request failed after %d attempts: %r", attempts, exc)
            return LLMResult(error=_reason(exc), attempts=attempts)
        raise AssertionError("unreachable")

    async def _once(self, messages: Messages, body: dict[str, Any], attempts: int) -> LLMResult:
        import openai
        await self._rate.wait()
        async with self._sem:
            self.stats["sent"] += 1
            try:
                resp = await self._client.chat.completions.create(model=self.model, messages=messages, **body)
            except openai.BadRequestError as e:
                msg = str(e).lower()
                if "context" in msg or "too long" in msg or "maximum" in msg and "token" in msg:
                    raise ContextOverflow(str(e)) from None
                raise
        choices = getattr(resp, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise MalformedResponse(f"no choices in response: {str(resp)[:200]!r}")
        usage = getattr(resp, "usage", None)
        metrics.inc("huatuo_llm_tokens", getattr(usage, "prompt_tokens", 0) or 0, kind="prompt")
        metrics.inc("huatuo_llm_tokens", getattr(usage, "completion_tokens", 0) or 0, kind="completion")
        return LLMResult(text=choices[0].message.content or "", finish_reason=choices[0].finish_reason,
                         attempts=attempts, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                         completion_tokens=getattr(usage, "completion_tokens", 0) or 0)

    async def close(self) -> None:
        await self._client.close()


def generate(
    requests: list[Messages],
    sampling: SamplingConfig | dict[str, Any] | None = None,
    endpoint: EndpointConfig | None = None,
    cache_dir: str | None = None,
    identity: str | None = None,
) -> list[LLMResult]:
    """Send chat requests to an OpenAI-compatible endpoint; one :class:`LLMResult` per request, in order.

    Blocking facade over :class:`ChatClient` (do not call it from inside a running event loop)::

        from huatuo_ray.llm import EndpointConfig, generate
        results = generate([[{"role": "user", "content": "Name one vitamin."}]],
                           {"temperature": 0, "max_tokens": 16},
                           EndpointConfig(base_url="http://127.0.0.1:8000/v1", model="local"))
        print(results[0].text if results[0].ok else results[0].error)
    """
    async def run() -> list[LLMResult]:
        client = ChatClient(endpoint or EndpointConfig(), cache=RequestCache(cache_dir), identity=identity)
        try:
            return await client.chat_many(requests, sampling or SamplingConfig())
        finally:
            await client.close()

    return asyncio.run(run())


def dumps_messages(messages: Messages) -> str:
    return json.dumps(messages, ensure_ascii=False)
