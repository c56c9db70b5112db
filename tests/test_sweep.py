"""proofgpt.sweep: grids and points files, refusals before anything runs, and a 2-point smoke sweep.

    .venv/bin/python -m pytest -q tests/test_sweep.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from proofgpt import cli, paths, sweep
from proofgpt.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
COMPARISON = ROOT / "notebooks" / sweep.COMPARISON


def test_grid_is_the_cartesian_product_named_by_what_varies():
    grid = sweep.parse_grid(["model.dropout=0,0.1", "train.label_smoothing=0, 0.1", "train.lr=1e-3"])
    assert grid == {"model.dropout": ["0", "0.1"], "train.label_smoothing": ["0", "0.1"], "train.lr": ["1e-3"]}
    points = sweep.grid_points("cpu", grid)
    assert list(points) == ["dropout=0,label_smoothing=0", "dropout=0,label_smoothing=0.1",
                            "dropout=0.1,label_smoothing=0", "dropout=0.1,label_smoothing=0.1"]
    assert points["dropout=0.1,label_smoothing=0"] == (
        "cpu", {"model.dropout": "0.1", "train.label_smoothing": "0", "train.lr": "1e-3"})
    # a profile axis, and leaves that repeat keep their section
    points = sweep.grid_points("cpu", sweep.parse_grid(["profile=smoke,cpu", "train.seed=0,1", "sample.seed=0"]))
    assert list(points) == ["smoke,seed=0", "smoke,seed=1", "cpu,seed=0", "cpu,seed=1"]
    assert points["cpu,seed=1"] == ("cpu", {"train.seed": "1", "sample.seed": "0"})
    points = sweep.grid_points("cpu", sweep.parse_grid(["train.seed=0,1", "sample.seed=2,3"]))
    assert "train.seed=0,sample.seed=3" in points


def test_resolve_types_the_overrides():
    resolved = sweep.resolve({"a": ("smoke", {"model.dropout": "0", "train.max_steps": "none"})})
    profile, overrides, flat = resolved["a"]
    assert profile == "smoke" and overrides == {"model.dropout": 0.0, "train.max_steps": None}
    assert flat["model"]["dropout"] == 0.0


def test_points_file(tmp_path):
    f = tmp_path / "points.yaml"
    f.write_text("base:\nsmall:\n  model.d_model: 32\n  model.n_heads: 2\nother:\n  profile: cpu\n  model: {dropout: 0.1}\n")
    points = sweep.read_points(f, "smoke")
    assert points == {"base": ("smoke", {}), "small": ("smoke", {"model.d_model": 32, "model.n_heads": 2}),
                      "other": ("cpu", {"model": {"dropout": 0.1}})}
    with pytest.raises(UserError, match="point 'other'"):  # nested sections are not dotted keys: refused by name
        sweep.resolve(points)


def test_the_readme_s_plan_sweep_resolves():
    """configs/sweeps/plan-cpu.yaml: the plan's variants at the cpu scale, sized as seed-15m / seed-6m are to seed."""
    from proofgpt.config import load_profile
    from proofgpt.model import GPT

    points = sweep.read_points(ROOT / "configs" / "sweeps" / "plan-cpu.yaml", "cpu")
    resolved = sweep.resolve(points)
    assert list(resolved) == ["cpu", "cpu-15m-like", "cpu-6m-like"]
    n = {p: GPT(load_profile(prof, [f"{k}={v}" for k, v in o.items()]).model).num_params()
         for p, (prof, o, _) in resolved.items()}
    assert n["cpu-6m-like"] < n["cpu"] < n["cpu-15m-like"]
    assert resolved["cpu-15m-like"][1]["model.ctx"] == 1024 and resolved["cpu-6m-like"][1]["model.dropout"] == 0.2


@pytest.mark.parametrize("args, needle", [
    (["-g", "model.dropuot=0,0.1"], "sweep point 'dropuot=0': override 'model.dropuot': unknown key"),
    (["-g", "model.n_layers=2,two"], "sweep point 'n_layers=two': "),
    (["-g", "model.dropout=0,1.5"], "model.dropout=1.5: must be in [0, 1)"),
    (["-g", "profile=smoke,nosuch"], "sweep point 'nosuch'"),
    ([], "empty sweep"),
    (["-g", "model.dropout="], "an empty value"),
    (["-g", "model.dropout"], "expected key=v1,v2"),
    (["-g", "model.dropout=0", "-g", "model.dropout=1"], "already an axis"),
    (["-g", "model.dropout=0", "--points", "x.yaml"], "not both"),
])
def test_bad_grids_one_line_before_anything_runs(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    rc = cli.main(["sweep", "bad", "--profile", "smoke", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("proofgpt: error: ") and err.count("\n") == 1, err
    assert needle in err
    assert not (tmp_path / "reports").exists() and not (tmp_path / "runs").exists()


def test_comparison_notebook_committed_stripped_with_one_parameter():
    nb = nbformat.read(COMPARISON, as_version=4)
    assert nb.cells[0].source.startswith("# ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].source.startswith('sweep_dir = ""  # ')
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells if c.cell_type == "code")
    assert COMPARISON not in [*ROOT.joinpath("notebooks").glob("[0-9][0-9]_*.ipynb")]  # not one of the five


@pytest.mark.slow
def test_two_point_smoke_sweep_resumes_and_compares(tmp_path):
    """Two smoke points through notebook 04, the comparison notebook, then a rerun that skips both."""
    root = tmp_path / "root"
    root.mkdir()
    for name in ("configs", "notebooks"):
        (root / name).symlink_to(ROOT / name)
    env = dict(os.environ, PROOFGPT_ROOT=str(root))
    env.pop("MPLBACKEND", None)
    cmd = [sys.executable, "-m", "proofgpt", "sweep", "pair", "--profile", "smoke", "-g", "train.lr=3e-3,1e-2",
           "--only", "04", "--no-html"]
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "\r" not in r.stderr and "it/s" not in r.stderr  # no progress bars without a TTY
    out = root / "reports" / "pair"
    for point in ("lr=3e-3", "lr=1e-2"):
        s = json.loads((out / point / "summary.json").read_text())
        assert s["run_dir"] == str(root / "runs" / "pair" / point)
        assert s["diagnosis"]["kind"] in ("improving", "converged", "underfitting", "overfitting", "too early")
        assert (out / point / "04_training.ipynb").exists() and (root / "runs" / "pair" / point / "ckpt").is_dir()
    rows = json.loads((out / "comparison.json").read_text())
    assert [r["point"] for r in rows] == ["lr=3e-3", "lr=1e-2"] and all(r["val loss"] > 0 for r in rows)
    md = (out / "comparison.md").read_text()
    assert "| point | profile |" in md and "| lr=1e-2 | smoke |" in md
    assert md in r.stdout
    nb = nbformat.read(out / "comparison.ipynb", as_version=4)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outs)  # the overlaid curves
    assert any("Diagnosis:" in o.get("data", {}).get("text/markdown", "") for o in outs)

    again = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished, skipped") == 2 and "report: 04_training" not in again.stdout
