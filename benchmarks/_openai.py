"""Shared by the LLM benchmarks: the bare asyncio OpenAI-client baseline, and the server both paths talk to."""

from __future__ import annotations

import argparse
import asyncio
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def server_args(ap: argparse.ArgumentParser, work: str) -> None:
    """--concurrency, --runs, --base-url, --model, --work."""
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--base-url", default=None, help="An OpenAI-compatible server; default: start the local one.")
    ap.add_argument("--model", default="local")
    ap.add_argument("--work", type=Path, default=Path(work))


@contextmanager
def server_url(base_url: str | None, work: Path) -> Iterator[str]:
    """``base_url``, or the URL of a local vLLM server (offline SmolLM2) started here and stopped after."""
    work.mkdir(parents=True, exist_ok=True)
    if base_url is not None:
        yield base_url
        return
    from huatuo_ray.llm.config import ServerConfig
    from huatuo_ray.llm.server import LocalServer

    server = LocalServer(ServerConfig(), work / "server.log").start()
    try:
        yield server.base_url
    finally:
        server.stop()


async def bare(base_url: str, requests: list[dict], concurrency: int) -> float:
    """Seconds to send every request (``{"model", "messages", "sampling"}``) with at most ``concurrency`` in flight."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=300)
    sem = asyncio.Semaphore(concurrency)

    async def one(r):
        async with sem:
            params = {k: v for k, v in r["sampling"].items() if v is not None}
            resp = await client.chat.completions.create(model=r["model"], messages=r["messages"], **params)
            return resp.choices[0].message.content

    t0 = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    dt = time.perf_counter() - t0
    await client.close()
    return dt
