"""Curation, the first step of the recipe: raw corpus -> domain-dense, clean, deduplicated segments.

The stages, in the paper's order (each a sub-package: ``config.py`` holds its recipe section and registration):

  density/   dictionary-density filter: keep texts dense in medical lexicon terms
  segment/   windowed segmentation: cut kept texts into overlapping segments of bounded length
  quality/   quality classifier: a fastText model drops advertising and low-quality segments
  dedup/     semantic dedup: embeddings, k-means, near-duplicate search within clusters (a global stage)

and the parts they share:

  spec.py        StageSpec: how a stage declares itself (config, implementation, resources, counters, histograms)
  registry.py    the stages in default order; building and selecting them
  config.py      the recipe's ``curate`` section, built from the registry
  base.py        the stage protocols (unit stage, filter, global stage)
  pipeline.py    the Ray Data job: read -> unit stages -> write, one resumable work unit per row; then a global stage
  histograms.py  per-unit histograms of the stages' scores and of kept lengths
  report.py      the end of a run: ledger check, stats.json, table and plots
"""
