"""Checker-guided proof search with scripted stand-in models whose preferences are known.

`ScriptModel` has the GPT's interface (config.ctx, forward(idx, cache=KVCache) -> logits) and
keeps its context in the KV cache itself (the byte ids are its "keys"). After the text
`... @G goal\\n` it writes one of the steps its script lists for that goal, chosen with the
script's weights, byte by byte; anything else gets a newline (an empty, invalid step).

    PYTHONPATH=$PWD python -m pytest -q tests/test_search.py
"""

import time

import pytest
import torch

from proofgpt import cli
from proofgpt.baseline import shortest_proof_len
from proofgpt.check import check_certificate, check_step, read_prompt
from proofgpt.config import ModelConfig
from proofgpt.model import GPT, GPTConfig
from proofgpt.pack import encode
from proofgpt.sample import sample_batch, score_batch
from proofgpt.search import prove, theorem_text
from tests._certs import LEFT_CANCEL, THREE_STEPS  # a * (a⁻¹ * b) = b: three rewrites at least

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

PROOF = [("rw [← mul_assoc]", "a * a⁻¹ * b = b"), ("rw [mul_inv]", "1 * b = b"), ("rw [one_mul]", "b = b")]

UNBOUNDED = """@T t : a = b
@C G : monoid
@C a b : G
@P mul_one : x * 1 = x
@G a = b"""


def step(tactic, goal):
    return f"{tactic}\n@G {goal}\n"


class ScriptModel(torch.nn.Module):
    """script: {goal text: [(step text, weight)]} or a function goal -> that list."""

    def __init__(self, script, ctx=512):
        super().__init__()
        self.config = ModelConfig(ctx=ctx, d_model=1, n_layers=1, n_heads=1, d_mlp=1)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # device and dtype for the sampler
        self.script = script if callable(script) else (lambda goal: script.get(goal, []))

    def next_logits(self, history: bytes):
        logits = torch.full((256,), -30.0)
        # the node's goal: the last complete '@G' line; partial: what was written after it
        start = history.rfind(b"\n@G ")
        while start >= 0 and b"\n" not in history[start + 4:]:
            start = history.rfind(b"\n@G ", 0, start)
        if start < 0:
            logits[10] = 0.0
            return logits
        end = history.index(b"\n", start + 4)
        goal, partial = history[start + 4:end].decode(), history[end + 1:]
        options = {}
        for text, weight in self.script(goal):
            t = text.encode()
            if t.startswith(partial) and len(t) > len(partial):
                options[t[len(partial)]] = options.get(t[len(partial)], 0.0) + weight
        if not options:
            logits[10] = 0.0
            return logits
        total = sum(options.values())
        for b, w in options.items():
            logits[b] = float(torch.log(torch.tensor(w / total)))
        return logits

    def forward(self, idx, cache=None):
        B, T = idx.shape
        keys, _ = cache.store(0, idx.float()[:, None, :, None], idx.float()[:, None, :, None])  # (B, 1, S, 1)
        pad = cache.pad.tolist() if cache.pad is not None else [0] * B
        logits = torch.empty(B, T, 256)
        for b in range(B):
            hist = bytes(keys[b, 0, pad[b]:, 0].long().tolist())
            for t in range(T):
                logits[b, t] = self.next_logits(hist[:len(hist) - T + t + 1])
        cache.pos += T
        return logits, None


def script_of(proof, extra=None):
    """{goal: [(step, 1)]} for a proof [(tactic, goal)] from THREE_STEPS's first goal."""
    goals = ["a * (a⁻¹ * b) = b"] + [g for _, g in proof]
    out = {g: [(step(t, n), 1.0)] for g, (t, n) in zip(goals, proof)}
    for g, options in (extra or {}).items():
        out[g] = options + out.get(g, [])
    return out


def test_scripted_proof_is_the_bfs_proof_in_one_expansion_per_step():
    """The model knows the shortest proof: three expansions, three steps, as many as BFS needs."""
    r = prove(ScriptModel(script_of(PROOF)), THREE_STEPS, e=4)
    assert r.found and r.reason is None
    assert r.steps == shortest_proof_len(THREE_STEPS) == 3
    assert r.expansions == 3
    assert check_certificate(r.certificate).verified
    assert r.certificate == THREE_STEPS + "\n" + "".join(step(t, g) for t, g in PROOF) + "rfl\nqed"


def test_checker_drops_invalid_steps_and_search_backtracks():
    """At the root the script prefers a wrong step (0.5), then a dead end (symm, 0.3), then the
    right step (0.2). The wrong one is dropped, the dead end is expanded first (higher
    log-probability) and yields nothing, then the proof: 1 + 1 + 2 expansions."""
    extra = {"a * (a⁻¹ * b) = b": [(step("rw [mul_assoc]", "a * a⁻¹ * b = b"), 0.5),
                                   (step("symm", "b = a * (a⁻¹ * b)"), 0.3)]}
    script = script_of(PROOF, extra)
    script["a * (a⁻¹ * b) = b"][-1] = (script["a * (a⁻¹ * b) = b"][-1][0], 0.2)
    r = prove(ScriptModel(script), THREE_STEPS, e=32, seed=0)
    assert r.found and r.steps == 3
    assert r.expansions == 4
    assert r.valid == 4  # symm, the three proof steps; never the wrong rw
    assert check_certificate(r.certificate).verified


def test_visited_goals_are_not_expanded_again():
    """symm back and forth: the second symm reaches the root goal again, which is not queued."""
    g0, g1 = "a * (a⁻¹ * b) = b", "b = a * (a⁻¹ * b)"
    r = prove(ScriptModel({g0: [(step("symm", g1), 1.0)], g1: [(step("symm", g0), 1.0)]}), THREE_STEPS, e=2)
    assert not r.found and r.reason == "exhausted"
    assert r.expansions == 2 and r.valid == 1
    assert r.best_partial_steps == 1 and r.best_partial.endswith("symm\n@G b = a * (a⁻¹ * b)\n")


def grow(goal):
    """a = b -> a * 1 = b -> a * 1 * 1 = b -> ...: valid steps without end."""
    lhs, rhs = goal.split(" = ")
    return [(step("rw [← mul_one]", f"{lhs} * 1 = {rhs}"), 1.0)]


@pytest.mark.parametrize("budget,reason", [(dict(max_expansions=5), "budget_expansions"),
                                           (dict(max_tokens=300), "budget_tokens"),
                                           (dict(max_seconds=0.3), "budget_time")])
def test_budgets_are_respected(budget, reason):
    t0 = time.perf_counter()
    r = prove(ScriptModel(grow, ctx=1 << 16), UNBOUNDED, e=2, **{"max_expansions": 10_000, **budget})
    assert not r.found and r.reason == reason
    assert r.expansions <= budget.get("max_expansions", 10_000)
    assert r.tokens <= budget.get("max_tokens", 10**9)
    if "max_seconds" in budget:
        assert r.elapsed_s < 0.3 + 2.0 and time.perf_counter() - t0 < 3.0  # one expansion may overrun
    assert r.best_partial_steps == r.expansions or reason == "budget_tokens"


def test_theorem_mode_lists_exactly_the_cited_premises():
    """Only @T and @C lines go to the model; the certificate gets @P lines for what it cites,
    axioms in the structure's order, then hypotheses, and passes the full checker."""
    lines = LEFT_CANCEL.split("\n")
    goals = [s[3:] for s in lines if s.startswith("@G")]
    tactics = [s for s in lines[lines.index("@G b = c") + 1:] if s.startswith(("rw", "symm"))]
    script = {g: [(step(t, n), 1.0)] for g, t, n in zip(goals, tactics, goals[1:])}
    r = prove(ScriptModel(script), LEFT_CANCEL, prompt_mode="theorem", e=2)
    assert r.found and r.steps == 7
    assert [s for s in r.certificate.split("\n") if s.startswith("@P")] == [
        "@P mul_assoc : x * y * z = x * (y * z)", "@P one_mul : 1 * x = x", "@P inv_mul : x⁻¹ * x = 1",
        "@P h1 : a * b = a * c"]
    assert check_certificate(r.certificate).verified  # premises checked too


def test_theorem_mode_may_cite_a_catalog_lemma():
    text = theorem_text("a * b⁻¹ * b = a", "group")
    r = prove(ScriptModel({"a * b⁻¹ * b = a": [(step("rw [inv_mul_cancel_right]", "a = a"), 1.0)]}), text,
              prompt_mode="theorem", e=2)
    assert r.found
    assert r.certificate.split("\n")[3] == "@P inv_mul_cancel_right : x * y⁻¹ * y = x"
    assert check_certificate(r.certificate).verified


def test_enumerated_goals_repair_a_mistyped_goal():
    """The script's tactics are right but its first @G line is wrong: sampling the goal text
    fails; enumerating the goals of the tactic and scoring them finds the proof."""
    typo = [("rw [← mul_assoc]", "a * a * b = b")] + PROOF[1:]
    script = script_of(typo)
    script["a * a⁻¹ * b = b"] = script.pop("a * a * b = b")
    assert not prove(ScriptModel(script), THREE_STEPS, e=2).found
    r = prove(ScriptModel(script), THREE_STEPS, e=2, goal_mode="enumerate")
    assert r.found and r.steps == 3 and r.expansions == 3
    assert check_certificate(r.certificate).verified


def test_untrained_gpt_searches_within_budget():
    torch.manual_seed(0)
    model = GPT(GPTConfig(ctx=256, d_model=32, n_layers=1, n_heads=2, d_mlp=64, dropout=0.0))
    for mode in ("sample", "enumerate"):
        r = prove(model, THREE_STEPS, e=4, max_tokens=400, goal_mode=mode)
        assert not r.found and r.tokens <= 400 and r.expansions >= 1
        assert r.best_partial == THREE_STEPS + "\n"
    assert model.training  # left as it was


def test_sampled_log_probability_equals_the_scored_one():
    """sample_batch's running log-probability == score_batch's one-forward score of the same bytes."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(ctx=128, d_model=32, n_layers=2, n_heads=2, d_mlp=64, dropout=0.0)).eval()
    prefix = encode("@T t : a = a\n").tolist()
    rows = sample_batch(model, [prefix] * 3, [5, 9, 1], temperature=1.0, top_k=None, top_p=1.0,
                        generator=torch.Generator().manual_seed(0), stop=lambda ids: False)
    assert [len(ids) for ids, _ in rows] == [5, 9, 1]
    scores = score_batch(model, prefix, [ids for ids, _ in rows])
    assert scores == pytest.approx([lp for _, lp in rows], abs=1e-4)
    full = torch.log_softmax(model(torch.tensor([prefix + rows[1][0]]))[0][0], -1)  # naive: no cache
    naive = sum(full[len(prefix) - 1 + i, b].item() for i, b in enumerate(rows[1][0]))
    assert scores[1] == pytest.approx(naive, abs=1e-4)


def test_check_step_known_answers():
    p = read_prompt(THREE_STEPS)
    assert check_step(p, "a * (a⁻¹ * b) = b", "rw [← mul_assoc]", "a * a⁻¹ * b = b") is None
    assert check_step(p, "b = b", "rfl") is None
    assert "no single rewrite" in check_step(p, "a * (a⁻¹ * b) = b", "rw [mul_assoc]", "a * a⁻¹ * b = b")
    assert "not a declared constant" in check_step(p, "a * (a⁻¹ * b) = b", "rw [← mul_assoc]", "a * a⁻¹ * c = b")
    assert "not in this structure" in check_step(p, "a * (a⁻¹ * b) = b", "rw [← mul_assoc]", "a + b = b")
    assert "unknown tactic" in check_step(p, "b = b", "simp")
    assert "no premise" in check_step(p, "1 * b = b", "rw [mul_one]", "b = b")


def test_theorem_text_infers_constants():
    assert theorem_text("a * b = a * c → b = c", "group", "lc") == (
        "@T lc : a * b = a * c → b = c\n@C G : group\n@C a b c : G\n@G b = c")


@pytest.mark.parametrize("argv,message", [
    (["--structure", "grp", "a = a"], "unknown structure 'grp'"),
    (["--structure", "group", "a * = a"], "does not parse"),
    (["--structure", "lattice", "a * b = a"], "operator '*' is not in lattice"),
    (["a = a"], "needs --structure"),
    ([], "give a statement or --theorems"),
    (["--structure", "group", "a = a", "-e", "0"], "-e must be >= 1"),
])
def test_cli_bad_input_is_one_line(argv, message, capsys, tmp_path):
    assert cli.main(["prove", "--run", str(tmp_path / "absent"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("proofgpt: error:") and len(err.splitlines()) == 1 and message in err, err


def test_cli_missing_run_is_one_line(capsys, tmp_path):
    assert cli.main(["prove", "--run", str(tmp_path / "absent"), "--structure", "group", "a = a"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "absent" in err
