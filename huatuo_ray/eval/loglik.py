"""Log-likelihood scoring of the option letters (the lm-evaluation-harness way), for local Hugging Face models.

For each single-answer item: the chat prompt (the model's chat template, generation prompt added) followed by
``答案：`` / ``Answer:``; the prediction is the option letter whose continuation tokens have the highest summed
log-probability. Items that may have several answers (CMB 多项选择题, CMExam) are not scored this way (``None``). transformers on CPU is enough for small
models; it reports as its own column beside the generated answers.
"""

from __future__ import annotations

from pathlib import Path

from huatuo_ray.benchmarks.items import Item

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
        """Summed log-probability of each letter's continuation after ``context``: one forward pass of the
        context gives every single-token continuation; a longer one gets its own pass."""
        torch = self.torch
        ctx = self.tok(context, add_special_tokens=False)["input_ids"]
        space = "" if language == "zh" else " "
        out = {}
        with torch.no_grad():
            first = torch.log_softmax(self.model(input_ids=torch.tensor([ctx], device=self.device)).logits[0, -1]
                                      .float(), dim=-1)
            for x in letters:
                cont = self.tok(space + x, add_special_tokens=False)["input_ids"]
                if len(cont) == 1:
                    out[x] = float(first[cont[0]])
                    continue
                ids = torch.tensor([ctx + cont], device=self.device)
                logp = torch.log_softmax(self.model(input_ids=ids).logits[0].float(), dim=-1)
                out[x] = float(sum(logp[len(ctx) - 1 + j, t] for j, t in enumerate(cont)))
        return out

    def predict(self, item: Item, messages: list[dict], language: str) -> str | None:
        if item.multi:
            return None
        scores = self.letter_logprobs(self.context(messages, language), list(item.options), language)
        return max(scores, key=scores.get)
