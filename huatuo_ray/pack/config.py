"""Settings of the packer: tokenizer, chat template, sequence length, global batch, boundary rules.

Defaults reproduce the paper: Baichuan2-7B-Base (its tokenizer needs ``trust_remote_code``), the
HuatuoGPT ``<问>：…\\n<答>：…`` format, 4096-token sequences, 128 sequences per global step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PackConfig(BaseModel):
    """How the ordered stream becomes packed sequences."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    tokenizer: str = Field("baichuan-inc/Baichuan2-7B-Base",
                           description="Tokenizer of the target model: a local directory or a hub id.")
    trust_remote_code: bool = Field(True, description="Baichuan2's tokenizer is remote code; false for plain HF models.")
    template: Literal["huatuo", "chat"] = Field(
        "huatuo", description="huatuo: <问>：q\\n<答>：a</s> per round; chat: the tokenizer's own chat template.")
    add_bos: bool | None = Field(None, description="huatuo template: start with the BOS token (default: if the tokenizer has one).")
    max_seq_len: int = Field(4096, ge=8, description="Tokens per packed sequence.")
    global_batch_size: int = Field(128, ge=1, description="Sequences per global step.")
    fill: Literal["continuous", "whole"] = Field(
        "continuous", description="continuous: a sample that does not fit the rest of a sequence continues in the "
        "next one (as the released packer did); whole: it starts the next sequence and the rest is padding.")
    overlong: Literal["split", "truncate", "drop"] = Field(
        "split", description="A sample longer than max_seq_len: split over several sequences, truncate to "
        "max_seq_len (the tail is discarded and counted), or drop it.")
    steps_per_shard: int = Field(16, ge=1, description="Global steps per output shard (one file pair each).")
    tokenize_batch: int = Field(1000, ge=1, description="Conversations rendered and encoded per tokenizer call.")
    local_max_items: int = Field(
        500_000, ge=0, description="Streams of at most this many items are packed in one process (all tokens in memory, "
        "8 bytes each); longer ones on Ray.")
    conversations: dict[str, str] = Field(
        default_factory=dict, description="Per sample source: where its conversations are, when not in the "
        "files the sampler read (Parquet with `id` and `conversations`).")
