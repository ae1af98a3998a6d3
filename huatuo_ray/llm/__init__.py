"""LLM access: one interface over an OpenAI-compatible endpoint or a local vLLM server.

Public API: :func:`generate` (blocking, list of chat-message lists -> list of :class:`LLMResult`),
:class:`ChatClient` (async), :class:`LocalServer`, :func:`open_backend`.

The client (and with it the ``openai`` package, about half a second to import) loads on first use, so that
importing the configuration (``huatuo_ray.llm.config``, which every recipe does) stays cheap for curation workers.
"""

from huatuo_ray.llm.config import (
    EndpointConfig,
    LLMConfig,
    SamplingConfig,
    ServerConfig,
)

__all__ = ["ChatClient", "EndpointConfig", "LLMConfig", "LLMResult", "SamplingConfig", "ServerConfig", "generate"]

_CLIENT = ("ChatClient", "LLMResult", "generate")


def __getattr__(name: str):
    if name in _CLIENT:
        from huatuo_ray.llm import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
