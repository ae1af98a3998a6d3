"""Recipe section ``sft``: how SFT sources (``sources`` entries of type ``sft``) are read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SftConfig(BaseModel):
    """Reading and validating SFT conversations."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    unit_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Uncompressed JSONL files are cut into work units of "
                            "about this size (a .json list is one unit).")
    max_record_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Larger conversations are quarantined.")
    excerpt_chars: int = Field(300, ge=0, description="Raw excerpt kept with quarantined records.")
