#!/usr/bin/env bash
# Re-draws the pictures under docs/: the HTML report on the embedded sample, captured
# with headless Chromium (Debian: apt-get install chromium), and one notebook figure.
# Usage: bash docs/screenshots.sh   (from the repository root, after `make demo`)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HF_HUB_OFFLINE=1
.venv/bin/graphad -q fit --schema datasets/fraud_sample/schema.yaml --out "$work/model" --seed 0
.venv/bin/graphad report --model "$work/model" --schema datasets/fraud_sample/schema.yaml \
    --out "$work/report.html" --top 20 --type user
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,2600 \
    --screenshot="$work/report.png" "file://$work/report.html" 2>/dev/null
.venv/bin/python - "$work" <<'PY'
import base64, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from PIL import Image
work = Path(sys.argv[1])
Image.open(work / "report.png").crop((0, 0, 1100, 2600)).save("docs/report.png",
                                                              optimize=True)
nb = nbformat.read("notebooks/investigate.ipynb", as_version=4)
NotebookClient(nb, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": str(work)}}).execute()
for cell in nb.cells:
    for out in cell.get("outputs", []):
        png = out.get("data", {}).get("image/png")
        if png and "evidence_panel" in cell.source:
            Path("docs/evidence_panel.png").write_bytes(base64.b64decode(png))
PY
echo "wrote docs/report.png and docs/evidence_panel.png"
