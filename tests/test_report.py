"""proofgpt.report: parameter checking, the one-line failure, the helpers notebooks call.

The full five-notebook run lives in tests/test_notebooks.py (one shared papermill run).

    .venv/bin/python -m pytest -q tests/test_report.py
"""

import json
import math
import os
import sys

import nbformat
import pytest

from proofgpt import cli, paths, report
from proofgpt.data import Block
from proofgpt.errors import UserError

NOTEBOOKS = report.notebooks()


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize("text, expected", [
    ("seed=3", ("seed", 3)),
    ("profile=cpu", ("profile", "cpu")),
    ("data_path=my corpus.txt", ("data_path", "my corpus.txt")),
    ('overrides={"train.lr": 1e-3}', ("overrides", {"train.lr": 1e-3})),
    ("train.lr=3e-4", ("train.lr", 3e-4)),
])
def test_parse_param(text, expected):
    assert report.parse_param(text) == expected


def test_parse_param_needs_equals():
    with pytest.raises(UserError, match="key=value"):
        report.parse_param("seed")


def test_notebook_parameters_read_from_the_tagged_cell():
    params = report.notebook_parameters(NOTEBOOKS[0])
    assert params == {"profile": "smoke", "run_dir": "", "seed": 0, "overrides": {}, "data_path": ""}


def test_unknown_parameter_is_refused_with_the_valid_names():
    with pytest.raises(UserError) as e:
        report.check_parameters({"sead": 1}, NOTEBOOKS)
    msg = str(e.value)
    assert "'sead'" in msg and "did you mean 'seed'" in msg
    for name in ("profile", "run_dir", "seed", "overrides", "data_path"):
        assert name in msg
    assert "\n" not in msg


@pytest.mark.parametrize("params", [{"seed": "1"}, {"seed": 1.5}, {"seed": True}, {"overrides": ["train.lr=1"]}, {"data_path": 3}])
def test_wrong_parameter_type_is_refused(params):
    with pytest.raises(UserError, match="expected"):
        report.check_parameters(params, NOTEBOOKS)


def test_right_parameter_types_pass():
    report.check_parameters({"seed": 2, "overrides": {"train.lr": 1e-3}, "data_path": "x.txt", "profile": "cpu"}, NOTEBOOKS)


@pytest.mark.parametrize("args, needle", [
    (["-p", "bogus=1"], "parameter 'bogus': unknown"),
    (["-p", "seed=abc"], "parameter 'seed': expected int"),
    (["-p", "overrides=[1]"], "parameter 'overrides': expected dict"),
    (["-p", "data_path=/no/such/corpus.txt"], "/no/such/corpus.txt: no such corpus file"),
    (["-p", "train.lrr=1e-3"], "did you mean 'lr'"),
    (["-p", "run_dir=x"], "use --run"),
    (["-p", "seed"], "expected key=value"),
])
def test_cli_refuses_bad_parameters_in_one_line(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    rc = cli.main(["report", "--profile", "smoke", "--run", "t", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("proofgpt: error: ") and err.count("\n") == 1, err
    assert needle in err
    assert not (tmp_path / "reports").exists()  # refused before anything ran


def test_missing_corpus_refused_before_any_kernel(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    rc = cli.main(["report", "--profile", "cpu", "--run", "t"])  # cpu reads data/training.txt
    err = capsys.readouterr().err
    assert rc == 2 and "data/training.txt: no such corpus; run `make data` first" in err
    assert not (tmp_path / "reports").exists()


def _write_boom_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "smoke"  # profile\nrun_dir = ""  # run\nseed = 0  # seed\noverrides = {}  # overrides')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# boom"), params, nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"),
                nbformat.v4.new_code_cell("1 / 0"), nbformat.v4.new_code_cell("print('never')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.slow
def test_failing_notebook_one_line_naming_notebook_and_cell_and_partial_report(tmp_path, monkeypatch, capsys):
    (tmp_path / "notebooks").mkdir()
    _write_boom_notebook(tmp_path / "notebooks" / "01_boom.ipynb")
    _write_boom_notebook(tmp_path / "notebooks" / "02_after.ipynb")
    for name in ("ROOT",):
        monkeypatch.setattr(paths, name, tmp_path)
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path / "notebooks")
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    rc = cli.main(["report", "--profile", "smoke", "--run", "t", "--no-html"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.count("\n") == 1, err
    # cell 4 of the executed notebook: markdown, parameters, injected-parameters, print, 1 / 0
    assert err.startswith("proofgpt: error: notebooks/01_boom.ipynb: cell 4 ")
    assert "ZeroDivisionError" in err
    partial = tmp_path / "reports" / "smoke" / "t" / "01_boom.ipynb"
    nb = nbformat.read(partial, as_version=4)
    assert any(o.get("ename") == "ZeroDivisionError" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert not (tmp_path / "reports" / "smoke" / "t" / "02_after.ipynb").exists()  # stopped at the first failure
    # papermill's kernel_name="python3" ran this very interpreter (the venv's ipykernel)
    (printed,) = [c for c in nb.cells if c.source.startswith("import sys")]
    assert printed.outputs[0]["text"].strip() == sys.executable
    assert "papermill-error-cell" in nb.cells[0].source  # papermill's banner points at the failing cell


# ------------------------------------------------------------------ helpers the notebooks call


def test_split_integrity_known_answer():
    corpus = ["@T a : x = x\nqed", "@T b : y = y\nqed", "@T c : z = z\nqed"]
    ok = report.split_integrity(corpus, [corpus[0], corpus[2]], [corpus[1]])
    assert (ok["lossless"], ok["n_cut"], ok["n_shared"], ok["n_shared_statements"]) == (True, 0, 0, 0)
    cut = report.split_integrity(corpus, [corpus[0], corpus[2]], ["@T b : y = y"])
    assert not cut["lossless"] and cut["n_cut"] == 1
    shared = report.split_integrity(corpus, corpus, [corpus[1]])
    assert not shared["lossless"] and shared["n_shared"] == 1 and shared["n_shared_statements"] == 1


def test_strata_rows_total_and_share():
    rows = report.strata_rows({"strata": {"group×walk": {"train": 9, "val": 1}, "ring×catalog": {"train": 3, "val": 1}}})
    assert rows[-1] == {"stratum": "total", "train": 12, "val": 2, "val %": round(100 * 2 / 14, 1)}
    assert rows[0]["val %"] == 10.0


def test_corpus_overview_with_and_without_meta():
    text = "@T t : a * 1 = a\n@C G : monoid\n@C a : G\n@P mul_one : x * 1 = x\n@G a * 1 = a\nrw [mul_one]\n@G a = a\nrfl\nqed"
    blocks = [Block(text, 1), Block(text.replace("t :", "u :"), 11)]
    ov = report.corpus_overview(blocks)
    assert ov["n_certificates"] == 2
    assert ov["by_structure"] == {"monoid": 2}
    assert ov["steps"] == [2, 2]  # rw and rfl
    assert ov["markers"]["@G"] == 4 and ov["markers"]["qed"] == 2 and ov["markers"]["rw"] == 2
    assert ov["n_bytes"] == len((text + "\n\n" + text.replace("t :", "u :") + "\n").encode())
    assert sum(ov["byte_counts"]) == ov["n_bytes"]
    assert ov["entropy_bound_bpb"] is None
    meta = [{"structure": "monoid", "family": "walk", "steps": 2, "term_size": 3, "log2p": [-1.0, -2.0]}] * 2
    ov = report.corpus_overview(blocks, meta)
    assert ov["by_family"] == {"walk": 2}
    assert math.isclose(ov["entropy_bound_bpb"], 6.0 / ov["n_bytes"])


def test_training_summary_best_eval_and_gap():
    m = [{"kind": "train", "step": 1, "loss": 5.0, "tokens_per_s": 10.0, "elapsed_s": 1.0},
         {"kind": "eval", "step": 1, "train_loss": 4.0, "val_loss": 4.5, "val_bpb": 6.5},
         {"kind": "eval", "step": 2, "train_loss": 3.0, "val_loss": 3.25, "val_bpb": 4.7},
         {"kind": "eval", "step": 3, "train_loss": 2.0, "val_loss": 3.5, "val_bpb": 5.0},
         {"kind": "stop", "step": 3, "reason": "patience"}]
    s = report.training_summary(m)
    assert (s["best_step"], s["best_val_loss"], s["train_val_gap"], s["stop_reason"]) == (2, 3.25, 0.25, "patience")
    assert report.training_summary([])["best_val_loss"] is None


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n{"kind": "ev')
    assert report.read_metrics(tmp_path) == [{"kind": "train", "step": 1}]


def test_jsonable_and_flat_rows():
    import numpy as np

    out = report.jsonable({"a": np.float32(1.5), "b": (1, np.int64(2)), "c": float("nan"), "d": np.arange(2)})
    assert out == {"a": 1.5, "b": [1, 2], "c": None, "d": [0, 1]}
    json.dumps(out)
    rows = report.flat_rows({"x": 1, "m": {"dup": 0.5}, "samples": [1, 2]})
    assert rows == [{"metric": "x", "value": 1}, {"metric": "m.dup", "value": 0.5}]


def test_html_table_escapes():
    h = report.html_table([{"a": "<b>", "n": 1234567}]).data
    assert "&lt;b&gt;" in h and "1,234,567" in h
