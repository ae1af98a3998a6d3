"""Build the bundled demo corpus in examples/demo_corpus/ from ../shared/data (run once; output is committed).

Only freely licensed files are used (MedicalGPT's Apache-2.0 data, MedQuAD CC BY 4.0); the copyrighted
fever.txt and tianlongbabu.txt are never copied. A few deliberately broken records exercise quarantine.
"""

from __future__ import annotations

import glob
import gzip
import json
import random
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
OUT = Path(__file__).resolve().parents[1] / "examples" / "demo_corpus"
MEDICAL_HINT = re.compile(r"医|病|药|症|患|治疗|健康|疾|诊|disease|medic|health|symptom|doctor", re.I)


def medquad_answers() -> list[dict]:
    rows = []
    for path in sorted(glob.glob(str(SHARED / "en_medical/MedQuAD/*/*.xml"))):
        root = ET.parse(path).getroot()
        for i, pair in enumerate(root.iter("QAPair")):
            answer = (pair.findtext("Answer") or "").strip()
            if len(answer) > 200:
                rows.append({"id": f"medquad-{Path(path).stem}-{i}", "question": pair.findtext("Question"), "text": answer})
    return rows


def main() -> None:
    rng = random.Random(0)
    OUT.mkdir(parents=True, exist_ok=True)
    for sub in ("web", "encyclopedia", "books", "sft", "sft_general", "literature"):
        (OUT / sub).mkdir(exist_ok=True)

    # web (zh): medical Q&A lines + general ShareGPT answers, plus broken records for the quarantine
    qa = [json.loads(line) for line in (SHARED / "corpus/medical_corpus.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
    general = []
    for line in (SHARED / "corpus/sharegpt_zh_1K_format.jsonl").read_text(encoding="utf-8").splitlines():
        conv = json.loads(line)["conversations"]
        answer = next((t["value"] for t in conv if t["from"] == "gpt"), "")
        if 150 < len(answer) < 1500 and not MEDICAL_HINT.search(answer) and re.search(r"[\u4e00-\u9fff]{20}", answer):
            general.append(answer)
    rng.shuffle(general)
    lines = [json.dumps({"问": r["问"], "答": r["答"]}, ensure_ascii=False) for r in qa]
    lines += [json.dumps({"答": t}, ensure_ascii=False) for t in general[:60]]
    rng.shuffle(lines)
    broken = [
        '{"答": "这一行的 JSON 没有结束',
        '{"问": 42, "答": ["不是", "字符串"]}',
        '{"标题": "没有正文字段"}',
        '{"答": "   "}',
        "[1, 2, 3]",
    ]
    body = "\n".join(lines[:40] + broken[:3] + lines[40:] + broken[3:]) + "\n"
    (OUT / "web/zh_forum.jsonl").write_bytes(body.encode("utf-8") + b'{"\xe7\x97": "invalid utf-8"}\n')

    # encyclopedia (en): MedQuAD answers, gzip-compressed JSONL
    answers = medquad_answers()
    rng.shuffle(answers)
    with gzip.open(OUT / "encyclopedia/medquad.jsonl.gz", "wt", encoding="utf-8") as f:
        for r in answers[:120]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    # literature (en): more MedQuAD answers as Parquet
    pq.write_table(pa.Table.from_pylist(answers[120:180]), OUT / "literature/medquad_more.parquet", row_group_size=20)

    # books (en, non-medical): US history prose, paragraphs separated by blank lines
    (OUT / "books/us_history.txt").write_text((SHARED / "corpus/en_article_tail500.txt").read_text(encoding="utf-8"), encoding="utf-8")

    # sft (zh): medical consultation conversations in the ShareGPT / HuatuoGPT2 JSON format
    convs = [json.loads(line) for line in (SHARED / "corpus/medical_sft_1K_format.jsonl").read_text(encoding="utf-8").splitlines()[:300]]
    for i, c in enumerate(convs):
        c["id"] = f"med-sft-{i}"
    (OUT / "sft/medical_consultations.json").write_text(json.dumps(convs, ensure_ascii=False, indent=0), encoding="utf-8")

    # sft_general: general ShareGPT conversations as JSONL (the paper mixes ShareGPT into its SFT data), with a
    # few broken records for the quarantine: roles out of order, an empty answer, no conversation at all
    general_convs = [json.loads(line) for line in (SHARED / "corpus/sharegpt_zh_1K_format.jsonl").read_text(
        encoding="utf-8").splitlines()[500:600]]
    lines = [json.dumps({"id": f"sharegpt-{i}", **c}, ensure_ascii=False) for i, c in enumerate(general_convs)]
    lines[10:10] = [
        json.dumps({"id": "broken-order", "conversations": [{"from": "gpt", "value": "答案"}, {"from": "human", "value": "问题"}]}, ensure_ascii=False),
        json.dumps({"id": "broken-empty", "conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": " "}]}, ensure_ascii=False),
        json.dumps({"id": "broken-none", "text": "只有正文，没有对话"}, ensure_ascii=False),
    ]
    (OUT / "sft_general/sharegpt_zh.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
