"""Real-tokenizer multi-turn conversations through the writer: labels, positions and boundaries in sequences."""

import numpy as np

from huatuo_ray.io.packed import PackedReader
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.shards import ArrayStore
from huatuo_ray.pack.tokenize import IGNORE, ConversationEncoder
from huatuo_ray.pack.writer import PackWriter

CONVS = [
    [("human", "Is aspirin safe daily?"), ("gpt", "Only if a doctor advises it."),
     ("human", "Why?"), ("gpt", "It raises the risk of bleeding.")],
    [("human", "头痛怎么办？"), ("gpt", "先休息，必要时就医。")],
    [("human", "Long question " * 30), ("gpt", "Long answer " * 60), ("human", "More?"), ("gpt", "No.")],
]


def test_multiturn_samples_keep_answer_labels_when_packed_and_split(smol_path, tmp_path):
    cfg = PackConfig(tokenizer=smol_path, trust_remote_code=False, template="chat", max_seq_len=128,
                     global_batch_size=2, fill="continuous", overlong="split")
    encoder = ConversationEncoder.from_config(cfg)
    enc = encoder.encode([{"conversations": [{"from": f, "value": v} for f, v in c]} for c in CONVS])
    w = PackWriter(tmp_path / "p", cfg, pad_token_id=2)
    w.add(ArrayStore(enc.ids, enc.labels, enc.offsets), np.arange(3), np.arange(3), ["a", "b", "c"])
    m = w.close()
    r = PackedReader(tmp_path / "p")
    rows = [r.read(s) for s in range(r.num_steps)]
    ids = np.concatenate([b.input_ids for b in rows])
    labels = np.concatenate([b.labels for b in rows])
    cus = [c for b in rows for c in b.cu_seqlens]
    pos = np.concatenate([b.position_ids for b in rows])
    # reassemble the stream of real tokens: exactly the three samples' tokens, in order
    real = np.concatenate([ids[i, : c[-1]] for i, c in enumerate(cus)])
    assert np.array_equal(real, enc.ids) and m["tokens"] == len(enc.ids) > 3 * 128 // 2
    # labels equal the encoder's, except the first token of every piece (never predicted across a boundary)
    want = np.concatenate([enc.labels[a:b] for a, b in zip(enc.offsets[:-1], enc.offsets[1:])])
    got = np.concatenate([labels[i, : c[-1]] for i, c in enumerate(cus)])
    firsts = np.concatenate([np.asarray(c[:-1]) + sum(int(x[-1]) for x in cus[:i]) for i, c in enumerate(cus)])
    keep = np.ones(len(want), bool)
    keep[firsts] = False
    assert np.array_equal(got[keep], want[keep]) and (got[firsts] == IGNORE).all()
    # the trained tokens of sample "a" are its two answers, each with <|im_end|>
    a_len = int(enc.lengths[0])
    text = encoder.tokenizer.decode(real[:a_len][want[:a_len] != IGNORE])
    assert text == "Only if a doctor advises it.<|im_end|>It raises the risk of bleeding.<|im_end|>"
    # positions restart at each piece; the long sample spans several sequences
    for i, c in enumerate(cus):
        for a, b in zip(c[:-1], c[1:]):
            assert pos[i, a:b].tolist() == list(range(b - a))
    sequences_with_c = [s for b in rows for s in b.sample_ids if "c" in s]
    assert m["counters"]["overlong"] == 1 and len(sequences_with_c) >= 3
