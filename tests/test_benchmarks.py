"""The benchmarks run end to end on a tiny random world model (figures meaningless, the
path real): each as a subprocess with --quick and --json."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cosmos_env.collect import collect
from cosmos_env.testing import tiny_world_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_hopper(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    tiny_world_model("hopper").save_pretrained(root / "wm", extra={"task": {"name": "hopper"}})
    collect("hopper", steps=150, out=root / "data", workers=1, progress=False, steps_after_termination=20)
    return root


def run(script, *args):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_reason_benchmark(tiny_hopper):
    stdout = run("reason.py", "--task", "hopper", "--weights", str(tiny_hopper / "wm"), "--data",
                 str(tiny_hopper / "data"), "--val-fraction", "0.3", "--quick", "--json", str(tiny_hopper / "r.json"))  # fmt: skip
    results = json.loads((tiny_hopper / "r.json").read_text())
    assert results["reward"]["pearson_baseline"] > 0.95  # the rule baseline is near exact on real data
    assert {"imagined_1_real", "shuffle", "freeze", "teleport"} <= set(results["plausibility"])
    assert stdout.strip().splitlines()[-1].startswith("plausibility AUROC")


def test_env_speed_benchmark(tiny_hopper):
    stdout = run("env_speed.py", "--task", "hopper", "--weights", str(tiny_hopper / "wm"), "--quick", "--num-envs", "2",
                 "--json", str(tiny_hopper / "e.json"))  # fmt: skip
    rows = json.loads((tiny_hopper / "e.json").read_text())["rows"]
    assert [(r["num_envs"], r["obs_mode"]) for r in rows] == [(2, "state"), (2, "pixels")]
    assert all(r["imagined_steps_per_s"] > 0 and r["mujoco_steps_per_s"] > 0 for r in rows)
    assert stdout.strip().splitlines()[-1].split()[:2] == ["2", "pixels"]
