from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from huatuo_ray.errors import RecipeError
from huatuo_ray.recipe import load_recipe
from huatuo_ray.sample.config import PRESETS, SOURCE_TYPES, SamplerConfig
from tests.conftest import REPO


def _table(cfg: SamplerConfig) -> dict:
    return {s.name: (cfg.weight(s), s.epochs) for s in cfg.sources}


def test_default_sources_follow_from_the_run_with_the_paper_preset():
    from huatuo_ray.sample.job import sampler_config

    recipe = load_recipe(REPO / "configs" / "local.yaml")
    assert recipe.sample.sources == [] and recipe.sample.preset == "paper" and recipe.sample.beta == 2.0
    cfg = sampler_config(recipe, {"unify": Path("/u"), "sft": Path("/s")})
    assert _table(cfg) == {"web": (32, 3), "literature": (16, 3), "encyclopedia": (8, 3), "books": (4, 3),
                           "sft-medical": (1, 1), "sharegpt": (1, 1)}
    paths = {s.name: s.path for s in cfg.sources}
    assert paths["web"] == "/u/release/by_type/web" and paths["sharegpt"] == "/s/sharegpt/kept"


def test_release_preset_is_the_public_code():
    cfg = SamplerConfig(preset="release", sources=[{"name": t, "type": t} for t in SOURCE_TYPES])
    assert _table(cfg) == {"web": (32, 1), "literature": (16, 1), "encyclopedia": (8, 1), "books": (4, 1), "sft": (1, 3)}
    assert [PRESETS["release"]["K"][t] for t in ("web", "literature", "encyclopedia", "books", "sft")] == [5, 4, 3, 2, 0]


def test_types_take_k_and_epochs_from_the_preset_explicit_values_win():
    cfg = SamplerConfig(preset="release", beta=3, sources=[
        {"name": "web-zh", "type": "web", "path": "x"}, {"name": "web-en", "type": "web", "K": 1},
        {"name": "qa", "type": "sft", "epochs": 2}])
    assert [(s.K, s.epochs) for s in cfg.sources] == [(5, 1), (1, 1), (0, 2)]
    assert cfg.weight(cfg.sources[0]) == 243


def test_preset_override_from_the_command_line(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"sample": {"sources": [{"name": "w", "type": "web", "path": "x"},
                                                        {"name": "s", "type": "sft", "path": "y"}]}}))
    assert [s.epochs for s in load_recipe(p).sample.sources] == [3, 1]
    assert [s.epochs for s in load_recipe(p, ["sample.preset=release"]).sample.sources] == [1, 3]


@pytest.mark.parametrize("sample, message", [
    ({"preset": None, "sources": [{"name": "w", "type": "web"}]}, "has no K: give K, or a type together with a preset"),
    ({"sources": [{"name": "w", "K": 1}, {"name": "w", "K": 2}]}, "names must be unique"),
    ({"sources": [{"name": "a b", "K": 1}]}, "letters, digits"),
    ({"sources": [{"name": "w", "type": "blog"}]}, "sample.sources.0.type"),
    ({"sources": [{"name": "w", "K": 1, "epochs": 0}]}, "sample.sources.0.epochs = 0"),
    ({"beta": 0}, "sample.beta = 0"),
    ({"beta": 1e10, "sources": [{"name": "w", "K": 40}]}, "is not a usable weight"),
    ({"preset": "huatuo"}, "sample.preset"),
    ({"sources": [{"name": "w", "K": 1, "weight": 3}]}, "sample.sources.0.weight"),
])
def test_config_errors_are_clear(tmp_path, sample, message):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"sample": sample}))
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert message in str(e.value)


def test_no_preset_defaults_epochs_to_one_and_needs_sources():
    cfg = SamplerConfig(preset=None, sources=[{"name": "a", "K": 2}])
    assert cfg.sources[0].epochs == 1
    assert SamplerConfig(preset=None).sources == []
    with pytest.raises(ValidationError):
        SamplerConfig(seed=-1)
