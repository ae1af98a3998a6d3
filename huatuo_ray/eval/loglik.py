"""Log-likelihood scoring of the option letters (the lm-evaluation-harness way), for local Hugging Face models.

For each single-answer item: the chat prompt (the model's chat template, generation prompt added) followed by
``答案：`` / ``Answer:``; the prediction is the option letter whose continuation tokens have the highest summed
log-probability. Items that may have several answers (CMB 多项选择题, CMExam) are not scored this way (``None``). transformers on CPU is enough for small
models; it reports as its own column beside the generated answers.
"""

from __future__ import annotations

from pathlib import Path

from huatuo_ray.eval.items import Item

PREFIX = {"zh": "答案：", "en": "Answer:"}


class LoglikScorer:
    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device).eval()
        self.device = device

    def context(self, messages: list[dict], language: str) -> str:
        if getattr(self.tok, "chat_template", None):
            text = self.tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = "\n".join(m["content"] for m in messages) + "\n"
        return text + PREFIX.get(language, PREFIX["en"])

    def letter_logprobs(self, context: str, letters: list[str], language: str) -> dict[str, float]:
        """Summed log-probability of each letter's continuation after ``context``."""
        torch = self.torch
        ctx = self.tok(context, add_special_tokens=False)["input_ids"]
        space = "" if language == "zh" else " "
        conts = [self.tok(space + x, add_special_tokens=False)["input_ids"] for x in letters]
        seqs = [ctx + c for c in conts]
        width = max(map(len, seqs))
        pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in seqs], device=self.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs], device=self.device)
        with torch.no_grad():
            logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        out = {}
        for k, (x, c) in enumerate(zip(letters, conts)):
            pos = range(len(ctx) - 1, len(ctx) - 1 + len(c))
            out[x] = float(sum(logp[k, p, tok] for p, tok in zip(pos, c)))
        return out

    def predict(self, item: Item, messages: list[dict], language: str) -> str | None:
        if item.multi:
            return None
        scores = self.letter_logprobs(self.context(messages, language), list(item.options), language)
        return max(scores, key=scores.get)
