"""Shared input and output: work units and readers, atomic writes, per-unit outputs and markers, Parquet file
discovery, and the packed-stream format the pack and train steps share."""
