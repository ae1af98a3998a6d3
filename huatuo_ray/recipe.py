"""The run recipe: pydantic models, YAML loading and ``--set key=value`` overrides.

One YAML file describes a run. Defaults reproduce the HuatuoGPT-II paper; every value can be
overridden for one run from the command line with ``--set dotted.key=value`` (the value is parsed
as YAML, so ``--set train.max_steps=400`` gives an int).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from huatuo_ray.curate.config import CurateConfig
from huatuo_ray.errors import RecipeError
from huatuo_ray.eval.config import EvalConfig
from huatuo_ray.io.storage import ObjectPath, check_uri, is_remote, is_uri, resolved
from huatuo_ray.llm.config import LLMConfig
from huatuo_ray.names import check_source_name
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.redact import mask, mask_text
from huatuo_ray.sample.config import SamplerConfig
from huatuo_ray.sft.config import SftConfig
from huatuo_ray.train.config import TrainConfig
from huatuo_ray.unify.config import UnifyConfig

SourceType = Literal["web", "literature", "encyclopedia", "books", "sft"]
SFT_TYPE = "sft"  # sources of this type bypass curation and unification (the sft step)
Language = Literal["zh", "en", "detect"]
InputFormat = Literal["auto", "jsonl", "parquet", "text", "text_blocks", "conversations"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


REMOTE_SETTINGS = ("run.dir", "sources.*.path", "llm.cache_dir", "train.checkpoint_storage")


def _strings(value: Any, key: str = ""):
    """(dotted key, string) for every string in a JSON-like value; list indices read ``*``."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, f"{key}.*")
    elif isinstance(value, str):
        yield key, value


def _checked_uri(v: str, what: str = "path") -> str:
    try:
        return check_uri(v, what)
    except RecipeError as e:
        raise ValueError(str(e)) from None


class SourceConfig(_Strict):
    """One input source: where it is, what kind of text it holds, how to read it."""

    name: str = Field(description="Short name, used in document ids and output file names.")
    path: str = Field(description="A file, a directory (read recursively) or a glob pattern.")
    type: SourceType = Field(description="Source type; the priority sampler orders sources by it.")
    language: Language = Field("detect", description="zh, en, or detect per document (by script).")
    format: InputFormat = Field("auto", description="Reader; auto picks by file extension.")
    text_field: str | list[str] = Field(
        "text", description="Field holding the text (JSONL/Parquet); a list joins several fields with a newline."
    )
    id_field: str = Field("id", description="Field holding the record's own id, used when present.")

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, v: str) -> str:
        return check_source_name(v)

    @field_validator("path")
    @classmethod
    def _uri_without_credentials(cls, v: str) -> str:
        return _checked_uri(v)


class RayConfig(_Strict):
    """Where to run: the cluster named by RAY_ADDRESS / ``address``, else a local Ray started on demand."""

    address: str | None = Field(None, description="Ray cluster address; the RAY_ADDRESS env var takes precedence.")
    num_cpus: int | None = Field(None, gt=0, description="CPUs for a local Ray (default: all).")
    object_store_memory_mb: int | None = Field(None, gt=0, description="Object store size for a local Ray.")
    metrics_export_port: int | None = Field(
        None, gt=0, lt=65536, description="Prometheus port of a local Ray's metrics (a cluster sets it at `ray start "
        "--metrics-export-port`); when set, the run connects to Ray before its first step so every step's metrics "
        "are exported.")


class RunConfig(_Strict):
    """The run directory: every step writes ``<dir>/<step>`` unless a command is given another output."""

    dir: str | None = Field(None, description="Run directory (default: runs/<name>, relative to the current "
                            "directory); a local path or an object-store URI (s3://bucket/prefix, gs://...).")

    staging_dir: str | None = Field(None, description="With run.dir in an object store: the local directory where "
                                    "the steps that work on local files (sample, pack, train, eval; unify's LLM server "
                                    "log) stage their copies (default: $HUATUO_RAY_STAGING, else "
                                    "~/.cache/huatuo-ray/staging). A local path.")

    @field_validator("dir")
    @classmethod
    def _uri_without_credentials(cls, v: str | None) -> str | None:
        return None if v is None else _checked_uri(v)

    def path(self, name: str) -> "Path | ObjectPath":
        return resolved(self.dir or f"runs/{name}")


class Recipe(_Strict):
    """A whole run. Load with :func:`load_recipe`."""

    name: str = Field("huatuogpt2", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    run: RunConfig = Field(default_factory=RunConfig)
    sources: list[SourceConfig] = Field(
        default_factory=list, description="Corpus sources (curated, then unified) and SFT sources (type sft: "
        "validated and handed to the sampler as they are).")
    sft: SftConfig = Field(default_factory=SftConfig, description="How SFT sources are read and validated.")
    curate: CurateConfig = Field(default_factory=CurateConfig)
    sample: SamplerConfig = Field(default_factory=SamplerConfig, description="The priority sampler (paper preset).")
    unify: UnifyConfig = Field(default_factory=UnifyConfig, description="Question / answer generation per segment.")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="The LLM backend unification (and labelling) use.")
    pack: PackConfig = Field(default_factory=PackConfig, description="Tokenisation and order-preserving packing.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training: Ray Train + DeepSpeed ZeRO.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation of the trained model (no "
                             "benchmarks: no eval step).")
    ray: RayConfig = Field(default_factory=RayConfig)

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, v: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique, repeated: {sorted(dup)}")
        return v

    @model_validator(mode="after")
    def _object_store_only_where_supported(self) -> "Recipe":
        for key, value in _strings(self.model_dump(mode="json")):
            if is_remote(value):
                _checked_uri(value, key)
                if key not in REMOTE_SETTINGS:
                    raise ValueError(f"{key}: object-store URIs are accepted only in {', '.join(REMOTE_SETTINGS)} "
                                     "(docs/run.md, 'Object storage')")
        return self

    def fingerprint(self, *parts: str) -> str:
        """Hash of the recipe sections that decide a job's output (e.g. ``"sources", "curate"``)."""
        return hashlib.sha256(json.dumps(self.output_affecting(*parts), sort_keys=True).encode()).hexdigest()[:16]

    def output_affecting(self, *parts: str) -> dict[str, Any]:
        """The sections of the recipe that change output, without runtime-only settings."""
        data = self.model_dump(mode="json")
        picked = {p: data[p] for p in parts}
        if "curate" in picked:
            picked["curate"].pop("resources", None)
        return picked


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid recipe ({origin}):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        value = mask(e.get("input"), str(e["loc"][-1]) if e["loc"] else "")  # a key pasted by mistake stays hidden
        shown = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"  {key} = {shown}: {mask_text(e['msg'])}")
    return "\n".join(lines)


def apply_override(data: dict, assignment: str, defaults: dict | None = None) -> None:
    """Apply one ``dotted.key=value`` override to a raw recipe dict (value parsed as YAML).

    A mapping the recipe file leaves out starts from its default (``defaults``: the default recipe as JSON), so
    ``--set llm.server.env.X=1`` adds X and keeps the default server environment.
    """
    if "=" not in assignment:
        raise RecipeError(f"override {assignment!r} must look like key=value (e.g. train.max_steps=400)")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise RecipeError(f"override key {key!r} is not a dotted path")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise RecipeError(mask_text(f"override {key} = {mask(raw, parts[-1])!r}: value is not valid YAML ({e})")) \
            from None
    node: Any = data
    default: Any = defaults or {}
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = _list_item(node, part, parts[: i + 1])
            default = None
            continue
        if not isinstance(node, dict):
            raise RecipeError(f"override {key}: {'.'.join(parts[:i])} is not a mapping")
        default = default.get(part) if isinstance(default, dict) else None
        if part not in node:
            node[part] = copy.deepcopy(default) if isinstance(default, dict) else {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        idx = _list_index(node, last, parts)
        node[idx] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RecipeError(f"override {key}: {'.'.join(parts[:-1])} is not a mapping")


def _list_index(node: list, part: str, path: list[str]) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise RecipeError(f"override {'.'.join(path)}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def _list_item(node: list, part: str, path: list[str]) -> Any:
    return node[_list_index(node, part, path)]


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None,
                base_dir: str | Path | None = None) -> Recipe:
    """Load and validate a recipe file (or the defaults when ``path`` is None), applying overrides.

    Relative source paths are relative to the current directory, or to ``base_dir`` when given (the demo
    resolves configs/local.yaml's sources against the repository, wherever it is started).
    """
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        origin = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise RecipeError(f"cannot read recipe {path}: {e.strerror}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise RecipeError(f"recipe {path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise RecipeError(f"recipe {path} must be a mapping at the top level, got {type(data).__name__}")
    defaults = Recipe().model_dump(mode="json") if overrides else None
    for assignment in overrides or []:
        apply_override(data, assignment, defaults)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_format_validation_error(e, origin)) from None
    if base_dir is not None:
        base = Path(base_dir)
        recipe = recipe.model_copy(update={"sources": [
            s if is_uri(s.path) or Path(s.path).expanduser().is_absolute()  # Path("s3://b/k") is relative
            else s.model_copy(update={"path": str(base / s.path)})
            for s in recipe.sources]})
    return recipe
