"""The priority sampler: all sources' instructions in one ordered stream (HuatuoGPT-II, section 3.2).

``config`` holds the settings and presets, ``keys`` the per-item Efraimidis-Spirakis keys, ``plan`` the sources
with their files and counts, ``priority`` the single-process path and the job (``distributed`` the Ray Data
path), ``plot`` the source-share figure, ``job`` the step of the run (its sources derived from the run).
"""

from huatuo_ray.sample.config import PRESETS, SamplerConfig, SampleSource

__all__ = ["PRESETS", "SampleSource", "SamplerConfig"]
