"""The protocols curation stages implement.

A *unit* stage (:class:`CurationStage`) receives the documents of one work unit as a list of plain dicts and
returns what it keeps and what it drops (each dropped record carrying a ``reason``). Stages never lose a
record: the pipeline checks ``len(docs) == kept_inputs + len(dropped)`` for every call. A filter
(:class:`FilterStage`) only judges documents; its base class turns the verdicts into kept and dropped lists.

A *global* stage (:class:`GlobalStage`) needs the output of every unit at once (semantic dedup): it runs after
the unit stages, reading what they wrote, and writes the final output itself.

Record keys shared by every stage:
  id, text, source, source_type, language ("zh" | "en"), path
Stages add their own annotations (``density``, ``segment_*`` ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from huatuo_ray.errors import LedgerError

if TYPE_CHECKING:
    from huatuo_ray.curate.config import CurateConfig
    from huatuo_ray.io.columns import Columns
    from huatuo_ray.io.output import OutputDir


@dataclass
class StageOutput:
    """What one stage call produced.

    kept: output records (a 1:N stage such as segmentation may emit several per input).
    dropped: input records the stage rejected, each with a ``reason`` key.
    kept_inputs: how many *input* records were kept (equals len(kept) for 1:1 stages).
    counters: extra named counts for the ledger (e.g. ``hard_splits``), as declared in the stage's spec.
    """

    kept: list[dict] | Columns = field(default_factory=list)  # Columns: records built as columns (segment)
    dropped: list[dict] = field(default_factory=list)
    kept_inputs: int = 0
    counters: dict[str, int] = field(default_factory=dict)


class Verdict(NamedTuple):
    """A filter's decision on one document: keep it, or drop it for ``reason`` (counted under ``counter``)."""

    keep: bool
    reason: str | None = None
    counter: str | None = None


KEEP = Verdict(True)


class CurationStage(ABC):
    """A unit stage: ``setup`` once per worker, then ``process`` per work unit."""

    name: ClassVar[str]

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
    """A 1:1 stage that only decides keep/drop (datatrove style): implement ``judge``.

    ``judge`` sees a whole unit at once, so a filter can score it in one batch; it may annotate the documents.
    """

    @abstractmethod
    def judge(self, docs: list[dict]) -> list[Verdict]:
        """One verdict per document, in order."""

    def filter(self, doc: dict) -> tuple[bool, str | None]:
        """(True, None) to keep one document or (False, reason) to drop it, annotating it as ``judge`` does."""
        keep, reason, _ = self.judge([doc])[0]
        return keep, reason

    def process(self, docs: list[dict]) -> StageOutput:
        verdicts = self.judge(docs)
        if len(verdicts) != len(docs):
            raise LedgerError(f"stage {self.name}: {len(verdicts)} verdicts for {len(docs)} documents")
        out = StageOutput()
        for doc, (keep, reason, counter) in zip(docs, verdicts):
            if keep:
                out.kept.append(doc)
                continue
            doc["reason"] = reason or "filtered"
            out.dropped.append(doc)
            if counter:
                out.counters[counter] = out.counters.get(counter, 0) + 1
        out.kept_inputs = len(out.kept)
        return out


class GlobalStage(ABC):
    """A stage over the whole output of the unit stages; always the last stage of a run.

    The unit stages write into ``<output>/<staging>/`` (the usual layout, with markers); :meth:`run` then
    writes the final ``kept/``, ``dropped/``, ``quarantined/`` files and markers of every unit.
    """

    name: ClassVar[str]
    staging: ClassVar[str]

    def setup(self) -> None:
        """Check on the driver, before any Ray job, what :meth:`run` will need (e.g. find its model)."""

    @abstractmethod
    def run(self, curate: CurateConfig, staged: OutputDir, out: OutputDir, unit_ids: list[str]) -> dict:
        """Process every unit of ``staged`` into ``out`` (resumable); returns the summary for stats.json."""

    @abstractmethod
    def remove_state(self, root: Path) -> None:
        """Forget every intermediate the stage keeps under the output directory ``root`` (for --overwrite)."""
