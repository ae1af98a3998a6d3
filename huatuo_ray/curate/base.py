"""The stage protocol every curation stage implements.

A stage receives the documents of one work unit as a list of plain dicts and returns what it keeps
and what it drops (each dropped record carrying a ``reason``). Stages never lose a record: the
pipeline checks ``len(docs) == kept_inputs + len(dropped)`` for every call.

Record keys shared by every stage:
  id, text, source, source_type, language ("zh" | "en"), path
Stages add their own annotations (``density``, ``segment_*`` ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass
class StageOutput:
    """What one stage call produced.

    kept: output records (a 1:N stage such as segmentation may emit several per input).
    dropped: input records the stage rejected, each with a ``reason`` key.
    kept_inputs: how many *input* records were kept (equals len(kept) for 1:1 stages).
    counters: extra named counts for the ledger (e.g. ``hard_splits``).
    """

    kept: list[dict] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    kept_inputs: int = 0
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StageResources:
    """What one worker of a stage needs (NeMo Curator style); the pipeline maps it onto Ray Data."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0


class CurationStage(ABC):
    """A curation stage: ``setup`` once per worker, then ``process`` per work unit."""

    name: ClassVar[str]
    resources: ClassVar[StageResources] = StageResources()

    def setup(self) -> None:
        """Load heavy state (automata, models). Called once per worker before ``process``."""

    def shared_state(self) -> object | None:
        """Heavy state built by ``setup`` that workers can load instead of rebuilding (None: nothing to share).

        The pipeline calls ``setup`` once on the driver, puts this in Ray's object store, and workers call
        :meth:`load_shared_state` with it, so e.g. automata are built once per run, not once per worker.
        """
        return None

    def load_shared_state(self, state: object) -> None:
        """Adopt state produced by :meth:`shared_state` on the driver (instead of calling ``setup``)."""

    @abstractmethod
    def process(self, docs: list[dict]) -> StageOutput:
        """Process the documents of one work unit."""


class FilterStage(CurationStage):
    """A 1:1 stage that only decides keep/drop (datatrove style): implement ``filter``."""

    @abstractmethod
    def filter(self, doc: dict) -> tuple[bool, str | None]:
        """Return (True, None) to keep ``doc`` or (False, reason) to drop it. May annotate ``doc``."""

    def process(self, docs: list[dict]) -> StageOutput:
        out = StageOutput()
        for doc in docs:
            keep, reason = self.filter(doc)
            if keep:
                out.kept.append(doc)
            else:
                doc["reason"] = reason or "filtered"
                out.dropped.append(doc)
        out.kept_inputs = len(out.kept)
        return out
