"""proofgpt.workbook: the helpers the notebooks call, on small real inputs.

The notebooks themselves run in tests/test_notebooks.py (one shared papermill run).

    .venv/bin/python -m pytest -q tests/test_workbook.py
"""

import json
import math
from pathlib import Path

from proofgpt import workbook
from proofgpt.certificate import Block
from proofgpt.config import NO_CERTIFICATES, load_profile
from proofgpt.stats import byte_stats, corpus_stats

ROOT = Path(__file__).resolve().parent.parent


def test_split_integrity_known_answer():
    corpus = ["@T a : x = x * x\nqed", "@T b : y * y = 1\nqed", "@T c : z + 0 = z\nqed"]
    ok = workbook.split_integrity(corpus, [corpus[0], corpus[2]], [corpus[1]])
    assert (ok["lossless"], ok["n_cut"], ok["n_shared"], ok["n_shared_statements"]) == (True, 0, 0, 0)
    cut = workbook.split_integrity(corpus, [corpus[0], corpus[2]], ["@T b : y * y = 1"])
    assert not cut["lossless"] and cut["n_cut"] == 1
    shared = workbook.split_integrity(corpus, corpus, [corpus[1]])
    assert not shared["lossless"] and shared["n_shared"] == 1 and shared["n_shared_statements"] == 1
    # a renamed, side-swapped copy is the same statement class: shared although no text is
    renamed = ["@T a : x = x * x\nqed", "@T d : w * w = w\nqed"]
    r = workbook.split_integrity(renamed, [renamed[0]], [renamed[1]])
    assert r["n_shared"] == 0 and r["n_shared_statements"] == 1


def test_strata_rows_total_and_share():
    rows = workbook.strata_rows({"strata": {"group×walk": {"train": 9, "val": 1}, "ring×catalog": {"train": 3, "val": 1}}})
    assert rows[-1] == {"stratum": "total", "train": 12, "val": 2, "val %": round(100 * 2 / 14, 1)}
    assert rows[0]["val %"] == 10.0


def test_corpus_stats_as_notebook_01_shows_them():
    text = "@T t : a * 1 = a\n@C G : monoid\n@C a : G\n@P mul_one : x * 1 = x\n@G a * 1 = a\nrw [mul_one]\n@G a = a\nrfl\nqed"
    blocks = [Block(text, 1), Block(text.replace("t :", "u :"), 11)]
    ov = corpus_stats(blocks)
    assert ov["n_certificates"] == 2 and ov["by_structure"] == {"monoid": 2}
    assert ov["cert_steps"] == [2, 2]  # rw and rfl
    assert ov["markers"]["@G"] == 4 and ov["markers"]["qed"] == 2 and ov["tactics"]["rw"] == 2
    assert ov["n_file_bytes"] == len((text + "\n\n" + text.replace("t :", "u :") + "\n").encode())
    assert sum(ov["byte_counts"]) == ov["n_file_bytes"]
    assert "entropy_bound_bpb" not in ov
    rows = {r["quantity"]: r["value"] for r in workbook.overview_rows(ov)}
    assert rows["entropy_bound_bpb"].startswith("n/a") and rows["n_certificates"] == 2
    meta = [{"structure": "monoid", "family": "walk", "steps": 2, "term_size": 3, "log2p": [-1.0, -2.0]}] * 2
    ov = corpus_stats(blocks, meta)
    assert ov["by_family"] == {"walk": 2}
    assert math.isclose(ov["entropy_bound_bpb"], 6.0 / ov["n_file_bytes"])


def test_training_summary_best_eval_and_gap():
    m = [{"kind": "train", "step": 1, "loss": 5.0, "tokens_per_s": 10.0, "elapsed_s": 1.0},
         {"kind": "eval", "step": 1, "train_loss": 4.0, "val_loss": 4.5, "val_bpb": 6.5},
         {"kind": "eval", "step": 2, "train_loss": 3.0, "val_loss": 3.25, "val_bpb": 4.7},
         {"kind": "eval", "step": 3, "train_loss": 2.0, "val_loss": 3.5, "val_bpb": 5.0},
         {"kind": "stop", "step": 3, "reason": "patience"}]
    s = workbook.training_summary(m)
    assert (s["best_step"], s["best_val_loss"], s["train_val_gap"], s["stop_reason"]) == (2, 3.25, 0.25, "patience")
    assert workbook.training_summary([])["best_val_loss"] is None


def test_read_metrics_skips_a_torn_last_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n{"kind": "ev')
    assert workbook.read_metrics(tmp_path) == [{"kind": "train", "step": 1}]


def test_jsonable():
    import numpy as np

    out = workbook.jsonable({"a": np.float32(1.5), "b": (1, np.int64(2)), "c": float("nan"), "d": np.arange(2)})
    assert out == {"a": 1.5, "b": [1, 2], "c": None, "d": [0, 1]}
    json.dumps(out)


def test_html_table_escapes():
    h = workbook.html_table([{"a": "<b>", "n": 1234567}]).data
    assert "&lt;b&gt;" in h and "1,234,567" in h


def test_live_curves_redraw_the_run_s_metrics_into_the_display_handle(tmp_path):
    """train(on_eval=...) in notebook 04: each evaluation replaces the handle's figure with plots.training_curves."""
    from matplotlib.figure import Figure

    (tmp_path / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 5.0, "grad_norm": 1.0, "lr": 0.1}\n'
                                            '{"kind": "eval", "step": 1, "train_loss": 4.0, "val_loss": 4.5, "val_bpb": 6.5}\n')
    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj)

    redraw = workbook.live_curves(Handle(), tmp_path, entropy_bound_bpb=0.1)
    redraw({"kind": "eval", "step": 1})
    redraw({"kind": "eval", "step": 1})
    assert len(shown) == 2 and all(isinstance(f, Figure) and len(f.axes) == 6 for f in shown)
    assert any("entropy bound 0.100" in t.get_text() for t in shown[0].axes[2].get_legend().get_texts())


def test_search_examples_beside_the_ground_truth():
    """A scripted model that knows the proof (tests/test_search.py): the searched certificate
    verifies and shows beside the ground truth; an empty script leaves the bare prompt, rejected."""
    from tests.test_search import PROOF, THREE_STEPS, ScriptModel, script_of

    cert = THREE_STEPS + "\n" + "".join(f"{t}\n@G {g}\n" for t, g in PROOF) + "rfl\nqed"
    found = workbook.search_examples(ScriptModel(script_of(PROOF)), [cert], n=4, e=2)["samples"]
    assert len(found) == 1 and found[0]["verified"] and found[0]["completion"] == cert and found[0]["truth"] == cert
    assert "3 expansions" in found[0]["theorem"]
    missed = workbook.search_examples(ScriptModel({}), [cert], mode="theorem", e=2)["samples"]
    assert not missed[0]["verified"] and "exhausted" in missed[0]["theorem"]
    html = workbook.completions_html({"samples": found + missed}).data
    assert "proofgpt-verdict-verified" in html and "ground truth" in html


def test_budget_curves_per_mode():
    point = {"budget_tokens": 8, "k": 1, "n": 2, "verified": 1, "pct": 50.0, "ci95": [9.5, 90.5]}
    curve = {"search": [point], "sampling_pass_at_k": [point], "blind_equal_time": [point]}
    ev = {"heldout": "test", "sets": {"test": {"modes": {"premises": {"budget_curve": curve}, "theorem": {"budget_curve": curve}}}}}
    assert workbook.budget_curves(ev) == {"premises": curve, "theorem": curve}


def test_byte_stats_known_answer():
    """b"aab\\n": p = 1/2, 1/4, 1/4 -> 1.5 bits/byte; corpus_stats reports the same figures for its canonical file."""
    bs = byte_stats(b"aab\n")
    assert (bs["n_file_bytes"], bs["n_lines"], bs["n_distinct_bytes"], bs["unigram_bpb"]) == (4, 1, 3, 1.5)
    assert bs["byte_top"][0] == {"byte": 97, "char": "'a'", "count": 2, "frac": 0.5}
    rows = {r["quantity"]: r["value"] for r in workbook.byte_rows(bs)}
    assert rows["bytes"] == 4 and rows["distinct byte values"] == 3
    text = "@T t : a = a\n@C G : monoid\n@C a : G\n@G a = a\nrfl\nqed"
    ov = corpus_stats([text])
    assert {k: ov[k] for k in bs} == byte_stats((text + "\n").encode())


def test_a_text_run_skips_certificate_parts_in_one_line(tmp_path):
    text = workbook.Workbook("smoke", load_profile("smoke", ["data.format=text", "data.generate_chars=0"]), tmp_path, 0)
    certs = workbook.Workbook("smoke", load_profile("smoke"), tmp_path, 0)
    assert not text.certificates and certs.certificates
    for name in workbook.CERTIFICATE_ONLY:
        nb = (ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8")
        assert f'workbook.skip_note(wb, \\"{name}\\")' in nb  # each notebook names itself
        note = workbook.skip_note(text, name).data
        assert "\n" not in note and NO_CERTIFICATES in note and workbook.CERTIFICATE_ONLY[name] in note
        assert workbook.skip_note(certs, name).data == ""
