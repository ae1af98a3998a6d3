"""Curation stages: density filter, windowed segmentation (quality and dedup come later)."""
