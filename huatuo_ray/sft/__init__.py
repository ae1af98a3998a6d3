"""The sft step: SFT conversations (ShareGPT / HuatuoGPT2 JSON, JSONL or Parquet) validated and handed to the sampler.

SFT sources bypass curation and unification, as the paper does with its 142K medical SFT instructions and
ShareGPT: each record is read, validated (:func:`huatuo_ray.conversations.conversation_turns`), written in
the release format, or quarantined with the reason. ``job`` is the step, ``convert`` one work unit.
"""
