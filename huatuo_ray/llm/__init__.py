"""LLM access: one interface over an OpenAI-compatible endpoint or a local vLLM server.

Public API: :func:`generate` (blocking, list of chat-message lists -> list of :class:`LLMResult`),
:class:`ChatClient` (async), :class:`LocalServer`, :func:`open_backend`.
"""

from huatuo_ray.llm.client import ChatClient, LLMResult, generate
from huatuo_ray.llm.config import (
    EndpointConfig,
    LLMConfig,
    SamplingConfig,
    ServerConfig,
)

__all__ = ["ChatClient", "EndpointConfig", "LLMConfig", "LLMResult", "SamplingConfig", "ServerConfig", "generate"]
