"""A scripted OpenAI-compatible chat endpoint (tests only): replies come from a function of the messages.

Runs an aiohttp server in a background thread. ``reply(messages) -> str``; raising makes the request a 500.
Every request body is recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web


class ScriptedEndpoint:
    def __init__(self, reply):
        self.reply, self.requests = reply, []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        try:
            text = self.reply(body["messages"])
        except Exception as e:  # noqa: BLE001 - a scripted failure
            return web.json_response({"error": {"message": str(e)}}, status=500)
        return web.json_response({
            "id": "x", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
