"""The priority sampler: all sources' instructions in one ordered stream (HuatuoGPT-II, section 3.2).

``config`` holds the settings and presets, ``keys`` the per-item Efraimidis-Spirakis keys,
``priority`` the single-process and Ray Data paths, ``plot`` the source-share figure.
"""

from huatuo_ray.sample.config import PRESETS, SamplerConfig, SampleSource

__all__ = ["PRESETS", "SampleSource", "SamplerConfig"]
