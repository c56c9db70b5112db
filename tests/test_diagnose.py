"""proofgpt.diagnose: synthetic curves of each kind get their kind, and noise does not flip it.

Each curve is a run of 1,400 steps evaluated every 100 steps (14 evaluations, like a longer cpu
run), losses in nats per byte, against an entropy bound of 0.10 bits/byte (0.069 nats).

    .venv/bin/python -m pytest -q tests/test_diagnose.py
"""

import math
import random

import pytest

from proofgpt.diagnose import CHANGE, RISE, diagnose

BOUND = 0.10  # bits/byte
STEPS = range(100, 1401, 100)


def curve(val, train):
    """Eval rows from two functions of the step (train rows mixed in, as in metrics.jsonl)."""
    rows = []
    for s in STEPS:
        rows.append({"kind": "train", "step": s, "loss": train(s) + 0.05})
        rows.append({"kind": "eval", "step": s, "val_loss": val(s), "train_loss": train(s)})
    return rows + [{"kind": "stop", "step": STEPS[-1], "reason": "x"}]


def decay(floor, tau, start=3.0):
    return lambda s: floor + (start - floor) * math.exp(-s / tau)


KINDS = {
    # still falling fast at the end: 0.9 + 2 e^(-s/600)
    "improving": curve(decay(0.9, 600), lambda s: decay(0.9, 600)(s) - 0.01),
    # flat from step ~600 at 0.08 nats = 0.115 bits/byte, 1.15x the bound
    "converged": curve(decay(0.08, 100), lambda s: decay(0.08, 100)(s) - 0.005),
    # flat at 0.6 nats = 0.87 bits/byte, 8.7x the bound, train just as high
    "underfitting": curve(decay(0.6, 100), lambda s: decay(0.6, 100)(s) - 0.01),
    # bottoms near step 600, then val climbs 0.0005/step while train keeps falling
    "overfitting": curve(lambda s: decay(0.3, 100)(s) + 0.0005 * max(0, s - 600),
                         lambda s: decay(0.3, 100)(s) - 0.0002 * max(0, s - 600)),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_synthetic_kind_gets_its_class(kind):
    d = diagnose(KINDS[kind], BOUND)
    assert d.kind == kind, d.reason
    assert d.advice and d.reason and "\n" not in d.reason


def test_evidence_names_the_steps_and_losses():
    d = diagnose(KINDS["overfitting"], BOUND)
    assert d.evidence["best_step"] == 600 and d.evidence["last_step"] == 1400
    assert d.evidence["gap_last"] > d.evidence["gap_at_best"]
    assert "step 600" in d.reason and "step 1400" in d.reason
    assert d.profile == "seed-6m" and d.changes["model.dropout"] == 0.2 and d.changes["train.label_smoothing"] == 0.1
    u = diagnose(KINDS["underfitting"], BOUND)
    assert u.profile == "seed-15m" and u.changes["model.ctx"] == 1024 and u.changes["model.dropout"] == 0.05
    assert "8.7x the entropy bound" in u.reason
    md = u.markdown()
    assert md.startswith("**Diagnosis: underfitting.**") and "`seed-15m`" in md and "model.d_model=384" in md
    assert diagnose(KINDS["improving"], BOUND).profile is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(10))
def test_evaluation_noise_does_not_flip_the_kind(kind, seed):
    """Every loss multiplied by 1 +- 0.4 % (uniform): the kind stays."""
    rng = random.Random(seed)
    noisy = [{**r, "val_loss": r["val_loss"] * (1 + rng.uniform(-0.004, 0.004)),
              "train_loss": r["train_loss"] * (1 + rng.uniform(-0.004, 0.004))} if r["kind"] == "eval" else r
             for r in KINDS[kind]]
    assert diagnose(noisy, BOUND).kind == kind


def test_borderline_curves_stay_on_their_side():
    flat = decay(0.08, 100)
    # val creeps up by half the RISE threshold while train falls: not (yet) overfitting
    creep = curve(lambda s: flat(s) * (1 + 0.5 * RISE * max(0, s - 800) / 600), lambda s: flat(s) * (1 - s / 14000))
    assert diagnose(creep, BOUND).kind == "converged"
    # val up by twice RISE but train flat too: a noisy plateau, not overfitting
    bump = curve(lambda s: flat(s) * (1 + 2 * RISE * (s == 1400)), flat)
    assert diagnose(bump, BOUND).kind == "converged"
    # a last-third drop of half CHANGE is a plateau, not "improving"
    slow = curve(lambda s: flat(s) * (1 - 0.5 * CHANGE * max(0, s - 900) / 500), flat)
    assert diagnose(slow, BOUND).kind == "converged"
    # just under HIGH x the bound: converged; well over: underfitting
    assert diagnose(curve(decay(0.1, 100), decay(0.1, 100)), BOUND).kind == "converged"  # 1.44x
    assert diagnose(curve(decay(0.11, 100), decay(0.11, 100)), BOUND).kind == "underfitting"  # 1.59x
    # high val but a train loss near the bound: a generalization gap, not underfitting
    assert diagnose(curve(decay(0.6, 100), decay(0.07, 100)), BOUND).kind == "converged"


def test_too_early_and_no_bound():
    rows = KINDS["converged"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert diagnose(evals[:2], BOUND).kind == "too early"
    assert diagnose([], BOUND).kind == "too early"
    d = diagnose(KINDS["underfitting"], None)  # a corpus of your own: "high" cannot be judged
    assert d.kind == "converged" and "no entropy bound" in d.reason
    assert diagnose([{**r, "train_loss": None} if r["kind"] == "eval" else r for r in rows], BOUND).kind == "too early"
