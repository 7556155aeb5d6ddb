"""The speed benchmark script runs (smoke) and writes its JSON."""

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


def test_speed_script_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location("evit_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.json"
    module.main(["--smoke", "--out", str(out), "--results", str(tmp_path / "none.json")])
    data = json.loads(out.read_text())
    entry = data["models"]["evit-vit-mini"]
    assert data["smoke"] and entry["macs_evit"] < entry["macs_vit"] and entry["speedup"] > 0
    assert entry["token_counts"] == [49, 36, 36, 27, 20, 20]
