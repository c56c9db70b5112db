"""proofgpt.report: parameter checking, the one-line failure, the summary.

The full five-notebook run lives in tests/test_notebooks.py (one shared papermill run).

    .venv/bin/python -m pytest -q tests/test_report.py
"""

import io
import json
import sys
import time

import nbformat
import pytest

from proofgpt import cli, paths, report
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


# ------------------------------------------------------------------ progress on the terminal


def test_follow_training_shows_steps_evaluations_and_the_stop(tmp_path):
    """What `proofgpt report` prints while a kernel trains: a bar fed by metrics.jsonl, one line per eval."""
    (tmp_path / "config.json").write_text(json.dumps({"derived": {"total_steps": 4}}))
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text('{"kind": "train", "step": 1, "loss": 9.0}\n')  # an earlier run's row: cut back below
    out = io.StringIO()
    with report.follow_training(tmp_path, file=out, poll_s=0.05):
        metrics.write_text("")  # a fresh start truncates the file
        with open(metrics, "a") as f:
            for step in (1, 2):
                f.write(json.dumps({"kind": "train", "step": step, "loss": 2.5, "tokens_per_s": 1234.0}) + "\n")
            f.write(json.dumps({"kind": "eval", "step": 2, "val_loss": 2.25, "val_bpb": 3.246, "train_loss": 2.0}) + "\n")
            f.write('{"kind": "train", "st')  # a torn line: read once it is whole
            f.flush()
            time.sleep(0.3)
            f.write('ep": 4, "loss": 2.0, "tokens_per_s": 1000.0}\n{"kind": "stop", "step": 4, "reason": "done"}\n')
    text = out.getvalue()
    assert "training" in text and "4/4" in text and "loss=2.000" in text and "tok_s=1,000" in text
    assert "step 2: val loss 2.2500 (bpb 3.246), train loss 2.0" in text and "stopped: done" in text
    assert "9.0" not in text  # rows from before the block are not replayed


def test_report_without_a_tty_shows_no_progress(monkeypatch):
    seen = {}
    monkeypatch.setattr(report, "run_report", lambda *a, **k: seen.update(k) or (_ for _ in ()).throw(report.ReportError("x")))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert report.main(["--profile", "smoke", "--run", "t"]) == 1
    assert seen["progress"] is False


def test_summary_markdown_carries_the_headline_rows():
    """The model's verified % with its interval, the best baseline and pass@k, per prompt mode."""
    s = {"profile": "smoke", "run_dir": "r", "git_commit": "abc", "torch_version": "2", "device": "cpu", "runtime_s": 1,
         "val_loss": 1.0, "val_bpb": 1.4, "entropy_bound_bpb": 0.1, "train_val_gap": 0.1, "verified_pct": 12.5,
         "structural_pct": 80.0, "pass_at_k": 20.0, "pass_k": 4, "duplicate_rate": 0.0, "near_dup_rate": 0.1,
         "unique_rate": 1.0, "best_step": 5, "stop_reason": "done", "seeds": {}, "notebook_runtime_s": {},
         "heldout": "test", "heldout_note": None,
         "diagnosis": {"kind": "improving", "reason": "val loss still falling", "advice": "train longer"},
         "headline": {"set": "test", "premises": {"verified_pct": 12.5, "verified_ci95": [8.0, 19.0], "pass_at_k": 20.0,
                                                  "pass_at_k_ci95": [12.0, 28.0], "k": 4, "best_baseline": "blind",
                                                  "best_baseline_pct": 60.0, "best_baseline_ci95": [50.0, 69.0]}}}
    md = report.summary_markdown(s)
    assert "| test, premises mode: model verified % (95 % CI) | **12.5** [8.0, 19.0] |" in md
    assert "| test, premises mode: best baseline (blind) | 60.0 [50.0, 69.0] |" in md
    assert "| test, premises mode: model pass@4 | 20.0 [12.0, 28.0] |" in md
    s["heldout_note"], s["headline"]["set"] = "no test set beside ...", "val"
    assert "val (no test set: val, which chose the checkpoint), premises mode" in report.summary_markdown(s)


# ------------------------------------------------------------------ one run per report, one writer per run


def _fake_run(run_dir, profile="smoke"):
    """A run directory as train leaves it, as far as report's checks read it: marker and config.json."""
    import json

    from proofgpt.config import load_profile, to_dict

    run_dir.mkdir(parents=True)
    (run_dir / "proofgpt-run.json").write_text("{}\n")
    (run_dir / "config.json").write_text(json.dumps({"config": to_dict(load_profile(profile)), "derived": {}, "env": {}}))
    return run_dir


def _isolate(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    monkeypatch.setattr(paths, "REPORTS_DIR", tmp_path / "reports")
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path / "runs")
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "training.txt").write_text("@T t : a = a\n")  # the cpu profile's corpus exists


def test_report_refuses_a_run_trained_with_another_profile(tmp_path, monkeypatch, capsys):
    _isolate(monkeypatch, tmp_path)
    run = _fake_run(tmp_path / "runs" / "s", "smoke")
    rc = cli.main(["report", "--profile", "cpu", "--run", str(run), "--no-html"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert f"{run}: was trained with profile 'smoke'" in err and "its own profile" in err
    assert not (tmp_path / "reports").exists()


def test_report_refuses_a_run_being_trained(tmp_path, monkeypatch, capsys):
    import os

    from proofgpt.io import lock_run

    _isolate(monkeypatch, tmp_path)
    run = _fake_run(tmp_path / "runs" / "s")
    held = lock_run(run)
    try:
        rc = cli.main(["report", "--profile", "smoke", "--run", str(run), "--no-html"])
    finally:
        held.close()
    err = capsys.readouterr().err
    assert rc == 2 and err == f"proofgpt: error: run {run} is being trained by pid {os.getpid()}; wait for it to finish (or stop it)\n"
    assert not (tmp_path / "reports").exists()


def test_report_refuses_a_report_folder_of_another_run(tmp_path, monkeypatch, capsys):
    _isolate(monkeypatch, tmp_path)
    other = tmp_path / "elsewhere" / "base"
    out = tmp_path / "reports" / "smoke" / "base"
    out.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"run_dir": str(other)}}
    nbformat.write(nb, out / "01_data_exploration.ipynb")
    before = (out / "01_data_exploration.ipynb").read_bytes()
    rc = cli.main(["report", "--profile", "smoke", "--run", str(_fake_run(tmp_path / "mine" / "base")), "--no-html"])
    err = capsys.readouterr().err
    assert rc == 2 and "is the report of another run" in err and str(other) in err, err
    assert (out / "01_data_exploration.ipynb").read_bytes() == before


def test_disk_full_while_writing_a_notebook_keeps_the_earlier_report(tmp_path, monkeypatch, capsys):
    import errno

    import papermill

    _isolate(monkeypatch, tmp_path)
    (tmp_path / "notebooks").mkdir()
    _write_boom_notebook(tmp_path / "notebooks" / "01_boom.ipynb")
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", tmp_path / "notebooks")
    out = tmp_path / "reports" / "smoke" / "t" / "01_boom.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')  # a good earlier report
    good = out.read_bytes()

    def disk_full(input_path, output_path, **kwargs):
        with open(output_path, "w") as f:
            f.write('{"cells": [{"cell_type": "co')  # cut off where the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(papermill, "execute_notebook", disk_full)
    rc = cli.main(["report", "--profile", "smoke", "--run", "t", "--no-html"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert f"{out}: cannot write the executed notebook (no space left on device; the earlier report is kept)" in err
    assert out.read_bytes() == good and sorted(p.name for p in out.parent.iterdir()) == ["01_boom.ipynb"]


def test_disk_full_names_the_file(tmp_path, monkeypatch, capsys):
    import errno
    import os

    from proofgpt import io

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "eval.json"
    with pytest.raises(OSError) as e:
        io.atomic_write_json(target, {"a": 1})
    assert e.value.filename == str(target) and cli._os_error(e.value) == f"{target}: no space left on device"
    assert list(tmp_path.iterdir()) == []  # no temp file left behind


def test_report_refuses_a_directory_that_is_not_a_run(tmp_path, monkeypatch, capsys):
    _isolate(monkeypatch, tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    rc = cli.main(["report", "--profile", "smoke", "--run", str(mine), "--no-html"])
    err = capsys.readouterr().err
    assert rc == 2 and f"{mine}: not a proofgpt run directory" in err and err.count("\n") == 1, err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
