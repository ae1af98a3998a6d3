import pytest
import yaml

from huatuo_ray.errors import RecipeError
from huatuo_ray.recipe import Recipe, apply_override, load_recipe

REPO_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs"


def test_defaults_validate_and_follow_the_paper():
    r = load_recipe()
    assert r.curate.stages == ["density", "segment", "quality", "dedup"]
    assert 400 <= r.curate.segment.max_chars <= 600  # the released code's 400/600-char source windows


@pytest.mark.parametrize("name", ["local.yaml", "huatuogpt2.yaml"])
def test_shipped_configs_validate(name):
    load_recipe(REPO_CONFIGS / name)


def test_error_names_key_and_value(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"curate": {"segment": {"max_chars": -5}}}))
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert "curate.segment.max_chars = -5" in str(e.value)


def test_unknown_key_is_refused(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("curate:\n  segmnt: {}\n")
    with pytest.raises(RecipeError, match=r"curate.segmnt .*Extra inputs"):
        load_recipe(p)


def test_bad_source_type_names_the_source(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("sources:\n  - {name: a, path: x, type: blog}\n")
    with pytest.raises(RecipeError, match=r'sources.0.type = "blog"'):
        load_recipe(p)


def test_overrides_parse_yaml_values_and_lists():
    r = load_recipe(REPO_CONFIGS / "local.yaml", ["curate.segment.max_chars=400", "sources.1.language=zh",
                                                  "curate.stages=[density]"])
    assert r.curate.segment.max_chars == 400 and r.sources[1].language == "zh" and r.curate.stages == ["density"]


@pytest.mark.parametrize("bad", ["nokey", "curate..x=1", "sources.9.path=x", "curate.stages.x.y=1"])
def test_bad_overrides_are_clear(bad):
    with pytest.raises(RecipeError):
        load_recipe(REPO_CONFIGS / "local.yaml", [bad])


def test_fingerprint_ignores_runtime_settings():
    a = Recipe()
    b = load_recipe(None, ["curate.resources.density.num_cpus=4", "ray.num_cpus=8"])
    c = load_recipe(None, ["curate.segment.max_chars=300"])
    assert a.fingerprint("sources", "curate") == b.fingerprint("sources", "curate")
    assert a.fingerprint("sources", "curate") != c.fingerprint("sources", "curate")


def test_apply_override_creates_nested_keys():
    data = {}
    apply_override(data, "curate.density.min_density.zh=0.1")
    assert data == {"curate": {"density": {"min_density": {"zh": 0.1}}}}
