"""Templates and tokenisation against the real SmolLM2 fast tokenizer (ChatML template)."""

import numpy as np
import pytest

from huatuo_ray.conversations import conversation_turns
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.template import huatuo_template
from huatuo_ray.pack.tokenize import IGNORE, ConversationEncoder

CONVS = [
    [("human", "What is hypertension?"), ("gpt", "High blood pressure: 140/90 mmHg or more.")],
    [("human", "高血压患者应该注意什么？"), ("gpt", "低盐饮食，规律服药。"), ("human", "能喝酒吗？"), ("gpt", "  尽量不要。\n")],
    [("human", " leading space"), ("gpt", " answer with  two spaces "), ("human", "x"), ("gpt", "y"),
     ("human", "third?"), ("gpt", "Third answer.")],
]


def conv(turns):
    return {"conversations": [{"from": f, "value": v} for f, v in turns]}


@pytest.fixture(scope="module")
def chat(smol_path):
    return ConversationEncoder.from_config(PackConfig(tokenizer=smol_path, trust_remote_code=False, template="chat"))


def test_chat_tokens_equal_apply_chat_template(chat):
    enc = chat.encode([conv(c) for c in CONVS])
    for i, c in enumerate(CONVS):
        msgs = [{"role": "user" if f == "human" else "assistant", "content": v} for f, v in c]
        ref = chat.tokenizer.apply_chat_template(msgs, tokenize=True)
        ref = ref["input_ids"] if hasattr(ref, "keys") else ref
        assert enc.row(i)[0].tolist() == list(ref)


def test_chat_labels_are_exactly_the_answers_and_end_of_turn(chat):
    enc = chat.encode([conv(c) for c in CONVS])
    for i, c in enumerate(CONVS):
        ids, labels = enc.row(i)
        trained = labels != IGNORE
        assert np.array_equal(labels[trained], ids[trained])
        # trained tokens form one run per answer, each ending with <|im_end|>
        runs = np.split(ids[trained], np.flatnonzero(np.diff(np.flatnonzero(trained)) > 1) + 1)
        answers = [v for f, v in c if f == "gpt"]
        assert len(runs) == len(answers)
        for run, a in zip(runs, answers):
            # a token straddling the prompt/answer boundary (e.g. "\n " before an answer that starts with
            # spaces) is not trained: at most leading whitespace of an answer is left out
            full, got = a + "<|im_end|>", chat.tokenizer.decode(run)
            assert full.endswith(got) and full[: len(full) - len(got)].strip() == ""
        questions = "".join(chat.tokenizer.decode(ids[~trained]))
        assert all(v in questions for f, v in c if f == "human")


def test_huatuo_template_and_slow_path_agree_on_labels(smol_path):
    cfg = PackConfig(tokenizer=smol_path, trust_remote_code=False, template="huatuo", add_bos=False)
    fast = ConversationEncoder.from_config(cfg)
    assert fast.template == huatuo_template(eos="<|im_end|>")
    enc = fast.encode([conv(CONVS[1])])
    ids, labels = enc.row(0)
    text = fast.tokenizer.decode(ids)
    assert text == "<问>：高血压患者应该注意什么？\n<答>：低盐饮食，规律服药。<|im_end|><问>：能喝酒吗？\n<答>：  尽量不要。\n<|im_end|>"
    assert fast.tokenizer.decode(ids[labels != IGNORE]) == "低盐饮食，规律服药。<|im_end|>  尽量不要。\n<|im_end|>"
    slow = ConversationEncoder(fast.tokenizer, fast.template)
    slow.backend = None  # the per-piece path used for tokenizers without a fast backend
    s_ids, s_labels = slow.encode([conv(CONVS[1])]).row(0)
    assert fast.tokenizer.decode(s_ids[s_labels != IGNORE]) == fast.tokenizer.decode(ids[labels != IGNORE])


@pytest.mark.parametrize("turns,reason", [
    ([], "empty conversation"),
    ([("gpt", "hi")], "turn 0 is from 'gpt'"),
    ([("human", "q")], "without an answer"),
    ([("human", "q"), ("human", "q2")], "turns must alternate"),
    ([("human", "q"), ("gpt", "  ")], "turn 1 has no text"),
])
def test_invalid_conversations_are_dropped_with_a_reason(chat, turns, reason):
    assert reason in conversation_turns(conv(turns))[1]
    enc = chat.encode([conv(CONVS[0]), conv(turns)])
    assert reason in enc.dropped[1] and enc.lengths[1] == 0 and enc.lengths[0] > 0
