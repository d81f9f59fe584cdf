"""Every tutorial script runs in its small mode (what the docs pages show) and writes its
pictures; a tutorial that stops working fails here, so the docs cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = {  # script -> pictures it must write
    "bptt_vs_ann.py": ["accuracy.png"],
    "encode_image_video.py": ["rate_raster.png", "latency_raster.png", "dvs_events.png"],
    "plasticity_protocols.py": ["window.png", "frequency.png", "rmse.json"],
    "attach_stdp.py": ["weights.png"],
    "hybrid_stdp_bptt.py": ["loss.png"],
    "diehl_cook.py": ["receptive_fields.png"],
    "bptt_engenders_stdp.py": ["windows.png", "fits.json"],
}


def test_every_tutorial_is_listed_and_has_a_page():
    scripts = {p.name for p in (ROOT / "tutorials").glob("*.py") if not p.name.startswith("_")}
    assert set(TUTORIALS) <= scripts
    pages = "".join(p.read_text() for p in (ROOT / "docs" / "tutorials").glob("*.md"))
    for name in TUTORIALS:
        assert f'--8<-- "tutorials/{name}"' in pages, f"no docs page includes {name}"


@pytest.mark.parametrize("script", sorted(TUTORIALS))
def test_tutorial_runs_small(script, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = tmp_path / "pictures"
    proc = subprocess.run([sys.executable, str(ROOT / "tutorials" / script), "--small",
                           "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in TUTORIALS[script]:
        assert (out / name).stat().st_size > 0, f"{script} did not write {name}"
