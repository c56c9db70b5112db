"""The five workbook notebooks: committed stripped, parameterised, and executed end to end.

One module-scoped fixture runs `python -m proofgpt report --profile smoke` once, in a fresh
root (PROOFGPT_ROOT=tmp, with configs/ and notebooks/ linked from the checkout): papermill
executes all five notebooks in fresh kernels, the smoke model trains, and every test below
asserts on what that run left behind (executed notebooks, HTML, runs/<run>/nb/*.json,
summary.json). A second run of the training and sampling notebooks
(in a second fresh root) checks that the same profile and seed reproduce the same numbers on CPU.

    .venv/bin/python -m pytest -q tests/test_notebooks.py
"""

import ast
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAMES = ["01_data_exploration", "02_proof_boundary_splitting", "03_model_build", "04_training", "05_sample_analysis"]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


# ------------------------------------------------------------------ the committed notebooks


def test_the_five_notebooks_exist_in_order():
    assert [p.stem for p in NOTEBOOKS] == NAMES


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    raw = json.loads(path.read_text(encoding="utf-8"))
    for cell in raw["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: outputs committed"


def test_nbstripout_verify():
    """What the git filter would do changes nothing (metadata, ids, outputs)."""
    nbstripout = Path(sys.executable).with_name("nbstripout")  # a declared dependency: make setup installs it
    r = subprocess.run([str(nbstripout), "--verify", *map(str, NOTEBOOKS)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_structure_title_parameters_resolve_no_logic(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = nb.cells[tagged[0]].source
    names = []
    for stmt, line in zip(ast.parse(params).body, params.splitlines()):
        assert isinstance(stmt, ast.Assign), line
        ast.literal_eval(stmt.value)  # literals only
        assert "  # " in line, f"{path.name}: parameter without an inline comment: {line}"
        names.append(stmt.targets[0].id)
    assert names == ["profile", "run_dir", "seed", "overrides", "data_path"]
    resolve = nb.cells[tagged[0] + 1].source
    assert "config.load_profile(profile, overrides)" in resolve
    for c in code_cells(nb):
        tree = ast.parse("\n".join(l for l in c.source.splitlines() if not l.startswith("%")))
        assert not any(isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda)) for n in ast.walk(tree)), c.source


# ------------------------------------------------------------------ one papermill run of all five


def _root(tmp):
    """A fresh project root sharing the checkout's configs and notebooks."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("configs", "notebooks"):
        (tmp / name).symlink_to(ROOT / name)
    return tmp


def run_report(root, run, *args, timeout=600):
    env = dict(os.environ, PROOFGPT_ROOT=str(root))
    env.pop("MPLBACKEND", None)  # Agg here would drop every figure from the executed notebooks
    t0 = time.time()
    r = subprocess.run([sys.executable, "-m", "proofgpt", "report", "--profile", "smoke", "--run", run, *args],
                       cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    return r, time.time() - t0


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = _root(tmp_path_factory.mktemp("workbook"))
    r, elapsed_s = run_report(root, "nb")
    print(f"\nsmoke report: {elapsed_s:.1f} s")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = root / "reports" / "smoke" / "nb"
    return {"root": root, "out": out, "run_dir": root / "runs" / "nb", "summary": json.loads((out / "summary.json").read_text()),
            "stdout": r.stdout, "elapsed_s": elapsed_s}


def executed(report, name):
    return nbformat.read(report["out"] / f"{name}.ipynb", as_version=4)


def outputs(nb):
    return [o for c in code_cells(nb) for o in c.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_each_notebook_executed_without_errors_with_html(report, name):
    nb = executed(report, name)
    assert all(c.execution_count is not None for c in code_cells(nb))
    assert not [o for o in outputs(nb) if o.output_type == "error"]
    assert nb.metadata.papermill.parameters["profile"] == "smoke"
    assert nb.metadata.papermill.parameters["run_dir"] == str(report["run_dir"])
    assert (report["out"] / f"{name}.html").stat().st_size > 10_000
    assert (report["run_dir"] / "nb" / f"{name}.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name, n_figures", [
    ("01_data_exploration", 6), ("02_proof_boundary_splitting", 2), ("03_model_build", 1),
    ("04_training", 1), ("05_sample_analysis", 1)])
def test_figures_present(report, name, n_figures):
    pngs = [o for o in outputs(executed(report, name)) if "image/png" in o.get("data", {})]
    assert len(pngs) >= n_figures


def finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pytest.mark.slow
def test_summary_numbers_finite(report):
    s = report["summary"]
    for key in ("val_loss", "val_bpb", "train_loss", "train_val_gap", "entropy_bound_bpb", "verified_pct", "structural_pct", "runtime_s"):
        assert finite(s[key]), (key, s[key])
    assert 0 < s["entropy_bound_bpb"] < 8
    assert 0 <= s["verified_pct"] <= 100
    assert s["val_loss"] < math.log(256)  # it learned something
    assert s["torch_version"] and s["device"] and s["config"]["model"]["d_model"] == 64
    assert s["n_params"] > 0
    assert s["seeds"]["notebooks"] == 0
    md = (report["out"] / "summary.md").read_text()
    assert "val bits/byte" in md and "entropy bound" in md


@pytest.mark.slow
def test_notebook_outputs_numbers(report):
    nb_dir = report["run_dir"] / "nb"
    d01 = json.loads((nb_dir / "01_data_exploration.json").read_text())
    assert d01["overview"]["n_certificates"] > 10 and finite(d01["overview"]["entropy_bound_bpb"])
    assert any(e["verdict"] == "verified" for e in d01["examples"])
    assert "line" in d01["examples"][-1]["verdict"] and d01["examples"][-1]["verdict"] != "verified"  # the corrupted copy
    d02 = json.loads((nb_dir / "02_proof_boundary_splitting.json").read_text())
    assert d02["integrity"]["lossless"] and d02["integrity"]["n_cut"] == 0 and d02["integrity"]["n_shared"] == 0
    assert all(0 < r["efficiency %"] <= 100 for r in d02["packing"])
    assert {r["ctx"] for r in d02["packing"]} >= {512, 1024}
    d03 = json.loads((nb_dir / "03_model_build.json").read_text())
    assert abs(d03["forward"]["init_loss"] - math.log(256)) < 0.2
    d05 = json.loads((nb_dir / "05_sample_analysis.json").read_text())
    assert len(d05["sweep"]) == 15 and all(0 <= r["verified_pct"] <= 100 for r in d05["sweep"])
    # the parts any corpus gets (tests/test_text.py checks them on a text run)
    assert d01["bytes"]["n_file_bytes"] == (report["run_dir"] / "data" / "training.txt").stat().st_size
    assert d02["sizes"]["n_train_bytes"] > 0 and 0 < d02["sizes"]["val_frac_bytes"] < 0.5 and "contiguous" not in d02["sizes"]
    assert d05["val_loss"]["rows"] == "packed val certificates"
    assert d05["val_loss"]["val_loss"] == pytest.approx(report["summary"]["val_loss"], abs=1e-5)  # the logged best, recomputed
    assert len(d05["unconditional"]) == 4 and all(u.startswith("@T") for u in d05["unconditional"])


@pytest.mark.slow
def test_widget_sampler_returned_a_verdict(report):
    d05 = json.loads((report["run_dir"] / "nb" / "05_sample_analysis.json").read_text())
    assert d05["sampler_verdict"].startswith(("verified", "structural", "rejected at line"))
    html = [o["data"]["text/html"] for o in outputs(executed(report, "05_sample_analysis")) if "text/html" in o.get("data", {})]
    assert any("proofgpt-verdict" in h and "ground truth" in h for h in html)


@pytest.mark.slow
def test_same_profile_and_seed_reproduce_the_numbers(report, tmp_path):
    """Generate, train, evaluate and sample again in a fresh root: identical numbers on CPU."""
    root = _root(tmp_path / "again")
    r, _ = run_report(root, "nb", "--only", "04,05", "--no-html")  # the notebooks whose numbers go in the summary
    assert r.returncode == 0, r.stderr[-3000:]
    again = json.loads((root / "reports" / "smoke" / "nb" / "summary.json").read_text())
    keys = ("val_loss", "val_bpb", "train_loss", "train_val_gap", "entropy_bound_bpb", "verified_pct",
            "structural_pct", "pass_at_k", "duplicate_rate", "near_dup_rate", "unique_rate", "sampling_sweep",
            "best_step", "seeds", "config", "n_params")
    assert {k: again[k] for k in keys} == {k: report["summary"][k] for k in keys}
