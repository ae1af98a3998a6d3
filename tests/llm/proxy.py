"""A fault-injecting, counting HTTP proxy in front of a real OpenAI-compatible server (tests only).

Runs an aiohttp server in a background thread. Every POST to /v1/chat/completions is counted by a hash of
its body; with probability ``fault_rate`` it answers with a fault instead of forwarding: a 500 or 503, a
hang longer than the client's timeout, or a 200 whose JSON is cut in half (forwarded, then truncated).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
from collections import Counter

import aiohttp
from aiohttp import web


def _cache_key(body: bytes, base_url: str) -> str:
    """The request-cache key a client of this proxy gives the request (an endpoint's identity has its URL)."""
    from huatuo_ray.llm.cache import request_key
    from huatuo_ray.llm.client import endpoint_identity
    from huatuo_ray.llm.config import EndpointConfig

    b = json.loads(body)
    identity = endpoint_identity(EndpointConfig(base_url=base_url, model=b["model"]))
    return request_key(identity, b["messages"], {k: b.get(k) for k in ("temperature", "top_p", "max_tokens", "seed")})


class FaultProxy:
    def __init__(self, upstream: str, fault_rate: float = 0.0, hang_s: float = 5.0, seed: int = 0):
        self.upstream = upstream.rstrip("/").removesuffix("/v1")  # request paths keep their /v1
        self.fault_rate, self.hang_s = fault_rate, hang_s
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.reset()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def reset(self) -> None:
        with self.lock:
            self.received: Counter = Counter()     # body hash -> requests
            self.answered: Counter = Counter()     # body hash -> complete 200 responses delivered
            self.faults: Counter = Counter()       # fault kind -> count
            self.upstream_errors = 0
            self.auth: set = set()                 # Authorization headers seen
            self.cache_keys: Counter = Counter()   # request-cache key of each chat request received

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession(loop=self._loop)
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        chat = request.method == "POST" and request.path.endswith("/chat/completions")
        key = hashlib.sha256(body).hexdigest()
        fault = None
        with self.lock:
            self.auth.add(request.headers.get("Authorization"))
            if chat:
                self.received[key] += 1
                self.cache_keys[_cache_key(body, self.base_url)] += 1
                if self.rng.random() < self.fault_rate:
                    fault = self.rng.choice(["http500", "http503", "timeout", "truncated"])
                    self.faults[fault] += 1
        if fault == "http500":
            return web.json_response({"error": {"message": "injected"}}, status=500)
        if fault == "http503":
            return web.Response(status=503, text="injected unavailable")
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
            return web.Response(status=504, text="too late")
        try:
            async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                             headers={"Content-Type": request.headers.get("Content-Type", "application/json")}) as r:
                data = await r.read()
                status, ctype = r.status, r.headers.get("Content-Type", "application/json")
        except aiohttp.ClientError:
            with self.lock:
                self.upstream_errors += 1
            return web.Response(status=502, text="upstream down")
        if fault == "truncated":
            return web.Response(status=200, body=data[: len(data) // 2], content_type="application/json")
        if chat and status == 200:
            with self.lock:
                self.answered[key] += 1
        return web.Response(status=status, body=data, headers={"Content-Type": ctype})

    def close(self) -> None:
        async def stop():
            await self._session.close()
        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
