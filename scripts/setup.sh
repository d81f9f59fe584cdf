#!/usr/bin/env bash
# Create .venv with the pinned PyTorch (2.13.0; a CPU build where one is on local disk) and
# hebbtorch installed editable. `--test` adds the test tools, `--docs` the docs-site tools
# (both may be given). A torch already in .venv is kept,
# so a CUDA build installed first (docs/install.md) survives.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
.venv/bin/python -c "import torch" 2>/dev/null || "${pip[@]}" torch==2.13.0
extras=()
for arg in "$@"; do
    case "$arg" in
        --test) extras+=(test) ;;
        --docs) extras+=(docs) ;;
        *) echo "setup.sh: unknown option $arg (use --test and/or --docs)" >&2; exit 2 ;;
    esac
done
spec="."
[ ${#extras[@]} -gt 0 ] && spec=".[$(IFS=,; echo "${extras[*]}")]"
"${pip[@]}" -e "$spec"
