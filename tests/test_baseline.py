"""Blind search baseline: found proofs verify, known answers worked by hand, budgets, the CLI.

    PYTHONPATH=$PWD python -m pytest -q tests/test_baseline.py
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proofgpt.baseline import prove, proof_lines, shortest_proof_len
from proofgpt.check import check_certificate
from tests._certs import COMPL, LEFT_CANCEL, THREE_STEPS, standalone_texts

REPO = Path(__file__).resolve().parents[1]

# h1 rewrites either occurrence of a * b; only the first gives the right side.
OCCURRENCE = """@T t : a * b = c → a * b * (a * b) = c * (a * b)
@C G : monoid
@C a b c : G
@P h1 : a * b = c
@G a * b * (a * b) = c * (a * b)"""

# x * 1 = x cannot connect a to b, and grows every term without end (a, a * 1, a * 1 * 1, ...).
UNPROVABLE_GROWING = """@T t : a = b
@C G : monoid
@C a b : G
@P mul_one : x * 1 = x
@G a = b"""

# no premise applies to a or b: both trees close at once.
UNPROVABLE_CLOSED = """@T t : a = b
@C G : comm_monoid
@C a b : G
@P mul_comm : x * y = y * x
@G a = b"""


@pytest.mark.parametrize("mode", ["best", "bfs"])
def test_found_certificates_verify(mode):
    """Every certificate found on the generated corpus (standalone ones: premises checkable alone)
    passes the full checker, premises included; and the search finds most of them."""
    texts = standalone_texts()[:120]
    found = 0
    for text in texts:
        r = prove(text, budget_s=0.5, mode=mode)
        if r.found:
            found += 1
            v = check_certificate(r.certificate)
            assert v.verified, (v.line, v.reason, r.certificate)
            assert v.steps == r.steps + 1  # rewrites + rfl
            assert r.certificate.startswith(text[: text.index("\n@G ")])  # the prompt, as written
    assert found >= 0.9 * len(texts)


@pytest.mark.parametrize("text, trust", [(LEFT_CANCEL, False), (COMPL, True)], ids=["left_cancel", "compl"])
def test_format_examples(text, trust):
    """COMPL cites a premise the package does not know: its steps verify (trust_premises)."""
    r = prove(text)
    assert r.found and r.reason is None
    assert check_certificate(r.certificate, trust_premises=trust).verified


def test_three_step_rewrite_sequence():
    """Worked by hand (best-first, priority depth + size, older entry first on ties):
    heap L = a * (a⁻¹ * b) (0 + 7), R = b (0 + 1). 1: expand b -> 1 * b (1 + 3).
    2: expand 1 * b -> among others a * a⁻¹ * b (← mul_inv a at the 1) and 1 * (1 * b) (2 + 5).
    3: expand L (7, older than the 7 of 1 * (1 * b)) -> a * a⁻¹ * b by ← mul_assoc: both trees
    hold it. Three expansions, three rewrites."""
    r = prove(THREE_STEPS)
    assert r.found and r.steps == 3 and r.expanded <= 3
    lines = r.certificate.splitlines()
    assert lines[7:] == ["rw [← mul_assoc]", "@G a * a⁻¹ * b = b", "rw [← one_mul]", "@G a * a⁻¹ * b = 1 * b",
                         "rw [← mul_inv a]", "@G a * a⁻¹ * b = a * a⁻¹ * b", "rfl", "qed"]
    assert check_certificate(r.certificate).verified


def test_rewrites_the_right_occurrence():
    r = prove(OCCURRENCE)
    assert r.found and r.steps == 1
    assert r.certificate.splitlines()[-4:] == ["rw [h1]", "@G c * (a * b) = c * (a * b)", "rfl", "qed"]
    assert check_certificate(r.certificate).verified


def test_proof_lines_of_the_input_are_ignored():
    wrong = THREE_STEPS + "\nrw [one_mul]\n@G b = b\nrfl\nqed"  # not a valid proof
    assert prove(wrong).certificate == prove(THREE_STEPS).certificate


def test_shortest_proof_len_known_answers():
    """THREE_STEPS: no two rewrites suffice (b's only child is 1 * b, which no rewrite of L gives)."""
    assert shortest_proof_len(THREE_STEPS) == 3
    assert shortest_proof_len(OCCURRENCE) == 1
    assert shortest_proof_len("@T t : a = a\n@C G : group\n@C a : G\n@G a = a") == 0
    assert shortest_proof_len(UNPROVABLE_CLOSED) is None
    assert shortest_proof_len(LEFT_CANCEL) == 7  # the format's proof takes 7; no shorter one exists


@pytest.mark.parametrize("text", standalone_texts()[:40])
def test_bfs_is_never_longer_than_best_first(text):
    best, bfs = prove(text, mode="best"), prove(text, mode="bfs")
    if best.found and bfs.found:
        assert bfs.steps <= best.steps


@pytest.mark.parametrize("mode", ["best", "bfs"])
def test_not_found_reasons_and_budgets(mode):
    r = prove(UNPROVABLE_CLOSED, mode=mode)
    assert (r.found, r.certificate, r.steps, r.reason) == (False, None, None, "exhausted")
    assert r.expanded == 2
    r = prove(UNPROVABLE_GROWING, budget_goals=50, budget_s=60, mode=mode)
    assert (r.found, r.reason, r.expanded) == (False, "budget_goals", 50)
    assert r.generated >= 50
    t0 = time.perf_counter()
    r = prove(UNPROVABLE_GROWING, budget_goals=10**9, budget_s=0.2, mode=mode)
    assert (r.found, r.reason) == (False, "budget_time")
    assert 0.2 <= r.elapsed_s <= time.perf_counter() - t0 < 2.0  # stops soon after its budget


def test_unreadable_prompt_raises_value_error():
    with pytest.raises(ValueError, match="line 4"):
        prove("@T t : a = a\n@C G : group\n@C a : G\nrfl\nqed")
    with pytest.raises(ValueError, match="mode"):
        prove(THREE_STEPS, mode="dfs")


def test_proof_lines():
    assert proof_lines(LEFT_CANCEL) == 8
    assert proof_lines(THREE_STEPS) == 0


# ----------------------------------------------------------------------------- CLI

def _cli(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("PROOFGPT_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "proofgpt", "baseline", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_found_certificates_and_summary(tmp_path):
    corpus = tmp_path / "in.txt"
    corpus.write_text("\n\n".join([LEFT_CANCEL, COMPL, THREE_STEPS, UNPROVABLE_CLOSED]) + "\n")
    p = _cli(str(corpus), "--out", str(tmp_path / "out.txt"), "--json", str(tmp_path / "s.json"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "3/4 theorems proved (75.0%)" in p.stdout
    found = (tmp_path / "out.txt").read_text().strip().split("\n\n")
    assert len(found) == 3 and all(check_certificate(t, trust_premises=True).verified for t in found)
    s = json.loads((tmp_path / "s.json").read_text())
    assert (s["total"], s["found"], s["not_found_by_reason"], s["failed_check"]) == (4, 3, {"exhausted": 1}, 0)
    assert s["by_proof_lines"]["0"] == {"total": 2, "found": 1}  # two bare prompts
    assert s["by_proof_lines"]["7-9"] == {"total": 1, "found": 1}  # LEFT_CANCEL: 8 tactic lines


@pytest.mark.parametrize("argv, says", [
    (["{d}/nope.txt"], "no such file"),
    (["{d}/empty.txt"], "file is empty"),
    (["{d}/in.txt", "--budget-goals", "0"], "--budget-goals must be positive"),
    (["{d}/in.txt", "--budget-s", "-1"], "--budget-s must be positive"),
    (["{d}/in.txt", "--budget-goals", "many"], "'many'"),
    (["{d}/in.txt", "--mode", "dfs"], "invalid choice"),
    (["{d}/in.txt", "--out", "{d}/afile/out.txt"], "afile"),
], ids=["missing", "empty", "goals-zero", "seconds-negative", "goals-text", "mode", "unwritable-out"])
def test_cli_bad_input_one_line_exit_2(tmp_path, argv, says):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "in.txt").write_text(COMPL + "\n")
    (tmp_path / "afile").write_text("a file, not a directory\n")
    p = _cli(*[a.format(d=tmp_path) for a in argv], cwd=tmp_path)
    assert p.returncode == 2
    errors = [line for line in p.stderr.splitlines() if line.startswith("proofgpt: error:")]
    assert len(errors) == 1 and says in errors[0], p.stderr
    assert p.stderr.splitlines()[-1] == errors[0] and "Traceback" not in p.stderr
