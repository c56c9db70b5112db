"""`proofgpt bench --quick`: the table and the JSON come out whole and add up.

Speed is never asserted here (the machine may be shared; `make bench` measures it). What is
asserted: every row is finite and positive (the overhead share may be 0), MFU
is tokens/s x flops/token over the measured peak, the loop overhead is a share of the loop step
of the shape it names, module parts are fractions of the same step,
packing ratios equal the packer's efficiency, CUDA rows exist or are skipped with a reason.

    .venv/bin/python -m pytest -q tests/test_bench.py
"""

import json
import math
import subprocess
import sys

import pytest

from proofgpt import bench
from proofgpt.config import ModelConfig
from proofgpt.model import GPT


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    r = subprocess.run([sys.executable, "-m", "proofgpt", "bench", "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads((out / "bench.json").read_text()), (out / "bench.md").read_text()


def rows_of(payload, section):
    return [r for r in payload["rows"] if r["section"] == section]


@pytest.mark.slow
def test_every_row_is_finite_and_positive_and_every_section_reports(quick_run):
    _, payload, _ = quick_run
    assert payload["quick"] is True
    for row in payload["rows"]:
        for key in ("value", "ref_value", "ratio"):
            outside = row["section"] == "overhead" and "target <" in row["name"] and key != "ref_value"
            assert math.isfinite(row[key]) and (row[key] > 0 or (outside and row[key] == 0)), row
    sections = {r["section"] for r in payload["rows"]} | set(payload["skipped"])
    assert sections == set(bench.SECTIONS)


@pytest.mark.slow
def test_mfu_is_achieved_over_measured_peak(quick_run):
    _, payload, _ = quick_run
    peak = payload["details"]["peak"]["best_gflops"]
    base = payload["details"]["train"]["resid 0, attn 0"]
    achieved = base["tokens_per_s"] * base["flops_per_token"] / 1e9
    assert base["gflops"] == pytest.approx(achieved, rel=1e-9)
    mfu_row, tps_row = rows_of(payload, "train")[:2]
    assert mfu_row["value"] == pytest.approx(achieved) and mfu_row["ref_value"] == pytest.approx(peak)
    assert tps_row["value"] == pytest.approx(base["tokens_per_s"])
    assert tps_row["ratio"] == pytest.approx(mfu_row["ratio"])  # tokens/s vs tokens/s at peak = MFU
    # the three dropout variants, each against the dropout-free tokens/s of this run
    *variants, one_thread = rows_of(payload, "train")[2:]
    assert len(variants) == 3 and all(r["ref_value"] == pytest.approx(base["tokens_per_s"]) for r in variants)
    one = payload["details"]["train"]["one_thread"]
    assert one_thread["value"] == pytest.approx(one["gflops"]) and one_thread["ref_value"] == pytest.approx(one["peak_gflops"])


@pytest.mark.slow
def test_loop_overhead_is_a_share_of_the_loop_step(quick_run):
    """The overhead section (run by the quick bench at a tiny shape): consistent fields, no timing asserted.
    (Not even loop >= compute: on a loaded machine the two differ by less than their noise.)"""
    _, payload, _ = quick_run
    d = payload["details"]["overhead"]
    loop_row, outside_row, cpu_row, data_row = rows_of(payload, "overhead")
    rounds = d["rounds"]
    assert len(rounds["loop_step_s"]) == payload["repeats"] == len(rounds["compute_step_s"])
    for clock, suffix in ((0, "s"), (1, "cpu_s")):  # wall, CPU time: the best round, then loop - compute
        loop, comp = (min(r[clock] for r in rounds[k]) for k in ("loop_step_s", "compute_step_s"))
        assert (d[f"loop_step_{suffix}"], d[f"compute_step_{suffix}"]) == (loop, comp)
        assert d[f"outside_{suffix}"] == pytest.approx(max(loop - comp, 0.0))
        share = d["outside_share" if clock == 0 else "outside_cpu_share"]
        assert 0 <= share <= 1 and share == pytest.approx(d[f"outside_{suffix}"] / loop)
    assert loop_row["value"] == pytest.approx(d["loop_step_s"] * 1e3) and loop_row["ref_value"] == pytest.approx(d["compute_step_s"] * 1e3)
    assert outside_row["ratio"] == pytest.approx(d["outside_share"]) and cpu_row["ratio"] == pytest.approx(d["outside_cpu_share"])
    assert "target < 10%" in outside_row["name"] and "target < 10%" in cpu_row["name"]
    assert data_row["ref_value"] == outside_row["ref_value"] == loop_row["value"] and 0 < data_row["ratio"] <= 1
    assert (d["batch"], d["ctx"]) == (payload["batch"], bench.QUICK_SHAPE["ctx"])  # --quick: the tiny shape
    assert f"B{d['batch']}x{d['ctx']}" in loop_row["name"] and d["n_params"] > 0


def test_overhead_shape_is_the_classic_cpu_recipe():
    """~0.8M parameters at ctx 64, batch 12 (nanoGPT's shakespeare_char on a CPU)."""
    assert bench.OVERHEAD_BATCH == 12 and bench.OVERHEAD_SHAPE["ctx"] == 64
    assert 0.75e6 < GPT(ModelConfig(**bench.OVERHEAD_SHAPE)).num_params() < 0.9e6


@pytest.mark.slow
def test_module_parts_are_fractions_of_one_step(quick_run):
    _, payload, _ = quick_run
    details = payload["details"]["modules"]
    rows = rows_of(payload, "modules")
    assert [r["name"] for r in rows[:4]] == ["attention fwd+bwd", "mlp fwd+bwd", "norm fwd+bwd", "embedding/head fwd+bwd"]
    assert all(r["ref_value"] == pytest.approx(details["step_s"] * 1e3) for r in rows)
    *parts, total = rows
    assert total["value"] == pytest.approx(sum(r["value"] for r in parts))


@pytest.mark.slow
def test_sampling_and_data_rows(quick_run):
    _, payload, _ = quick_run
    kv, batched, gen1, gen8 = rows_of(payload, "sample")
    assert gen8["ref_value"] == gen1["value"] and gen1["ref_value"] == kv["value"]
    assert kv["ref_name"] == "full recompute tokens/s" and batched["ref_value"] == kv["value"]
    data = payload["details"]["data"]
    packing = [r for r in rows_of(payload, "data") if r["name"].startswith("packing")]
    assert len(packing) == 2
    for r in packing:
        ctx = r["name"].split()[-1]
        assert r["ratio"] == pytest.approx(data["packing"][ctx]["efficiency"])
        assert 0 < r["ratio"] <= 1
    assert data["n_chars"] > 0 and 0 <= data["verified_frac"] <= 1


@pytest.mark.slow
def test_search_rows_are_rates_of_the_same_runs(quick_run):
    _, payload, _ = quick_run
    tokens, expansions = rows_of(payload, "search")
    d = payload["details"]["search"]
    assert tokens["value"] == pytest.approx(d["tokens"] / d["search_s"])
    assert tokens["ref_value"] == pytest.approx(d["generate_tokens"] / d["generate_s"])
    assert expansions["value"] == pytest.approx(d["expansions"] / d["search_s"])
    assert expansions["ref_value"] == pytest.approx(d["theorems"] / d["generate_s"])


@pytest.mark.slow
def test_table_markdown_and_machine_info(quick_run):
    stdout, payload, md = quick_run
    assert "measurement" in stdout and "ratio" in stdout
    for r in payload["rows"]:
        assert r["name"] in stdout and r["name"] in md
    machine = payload["machine"]
    assert machine["cores"] >= 1 and machine["threads"] >= 1 and machine["torch"]
    assert machine["elapsed_s"] > 0
    import torch

    if not torch.cuda.is_available():
        assert "CUDA" in payload["skipped"]["cuda"] and "cuda" in stdout and "skipped" in stdout


def test_only_runs_the_named_section(tmp_path):
    out = tmp_path / "b"
    assert bench.main(["--quick", "--only", "peak", "--out", str(out)]) == 0
    payload = json.loads((out / "bench.json").read_text())
    assert {r["section"] for r in payload["rows"]} == {"peak"} and payload["details"]["peak"]["best_gflops"] > 0
    assert payload["only"] == ["peak"]


def test_unknown_section_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--only", "nope"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_time_best_returns_min_and_median():
    calls = []
    best, median = bench.time_best(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and 0 <= best <= median
