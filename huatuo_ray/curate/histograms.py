"""Fixed-bin histograms collected per unit and added up per run (for the plots in DIR/plots/)."""

from __future__ import annotations

from dataclasses import dataclass, field

DENSITY_BINS = 100  # over [0, 1]
LENGTH_BIN = 20  # characters per bin of the segment-length histogram
LENGTH_BINS = 100  # the last bin collects everything longer


@dataclass
class Histograms:
    """density[lang][kept|dropped] over [0,1]; kept_chars: lengths of kept rows."""

    density: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    kept_chars: list[int] = field(default_factory=lambda: [0] * LENGTH_BINS)
    quality: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # quality_drop_prob by language, outcome

    def observe_stage(self, stage: str, kept: list[dict], dropped: list[dict]) -> None:
        if stage == "quality":
            for outcome, rows in (("kept", kept), ("dropped", dropped)):
                for d in rows:
                    bins = self.quality.setdefault(d.get("language", "und"), {}).setdefault(outcome, [0] * DENSITY_BINS)
                    bins[min(int(d["quality_drop_prob"] * DENSITY_BINS), DENSITY_BINS - 1)] += 1
            return
        if stage != "density":
            return
        for outcome, rows in (("kept", kept), ("dropped", dropped)):
            for d in rows:
                if d.get("density") is None:
                    continue
                bins = self.density.setdefault(d.get("language", "und"), {}).setdefault(outcome, [0] * DENSITY_BINS)
                bins[min(int(d["density"] * DENSITY_BINS), DENSITY_BINS - 1)] += 1

    def observe_kept(self, rows: list[dict]) -> None:
        for d in rows:
            self.kept_chars[min(len(d["text"]) // LENGTH_BIN, LENGTH_BINS - 1)] += 1

    def merge(self, other: Histograms) -> None:
        for mine_all, theirs in ((self.density, other.density), (self.quality, other.quality)):
            for lang, outcomes in theirs.items():
                for outcome, bins in outcomes.items():
                    mine = mine_all.setdefault(lang, {}).setdefault(outcome, [0] * DENSITY_BINS)
                    for i, c in enumerate(bins):
                        mine[i] += c
        for i, c in enumerate(other.kept_chars):
            self.kept_chars[i] += c

    def to_dict(self) -> dict:
        return {"density": self.density, "kept_chars": self.kept_chars, "quality": self.quality}

    @classmethod
    def from_dict(cls, d: dict) -> Histograms:
        return cls(density={k: dict(v) for k, v in d["density"].items()}, kept_chars=list(d["kept_chars"]),
                   quality={k: dict(v) for k, v in d.get("quality", {}).items()})
