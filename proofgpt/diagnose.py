"""The training plan's diagnosis of a run, read from its curves (metrics.jsonl eval rows).

    >>> diagnose(read_jsonl("runs/cpu/metrics.jsonl"), entropy_bound_bpb=0.10).kind
    'improving'

Four kinds, tested in this order on the eval rows (step, train_loss, val_loss):

- overfitting: val loss bottomed out and has risen since (by more than RISE), while the train
  loss kept falling (by more than CHANGE), so the train/val gap grew. The plan: a smaller model,
  more dropout, label smoothing, fewer epochs, more weight decay -> profile `seed-6m`.
- improving: val loss is still falling: over the last third of the steps it dropped by more than
  CHANGE and the latest evaluation is the best (within RISE). The plan: train longer.
- underfitting: val loss has levelled off high, more than HIGH times the corpus's entropy bound,
  and the train loss is as high (the model cannot fit its own train set either). The plan: a
  bigger model, a longer context, less dropout, train longer -> profile `seed-15m`.
- converged: val loss has levelled off near the bound (or levelled off with no bound to judge
  against): nothing in training to change; read the samples.

With fewer than MIN_EVALS evaluations the answer is "too early". The thresholds are relative and
wide on purpose: evaluation noise of a fraction of a percent must not flip the kind of a run
(tests/test_diagnose.py perturbs synthetic curves of each kind to check).
"""

import math
from dataclasses import asdict, dataclass, field

from proofgpt.config import load_profile, to_dict

MIN_EVALS = 3
CHANGE = 0.02  # a relative change of val (or train) loss that counts as falling / rising
RISE = 0.02  # val loss this far above its best counts as risen
HIGH = 1.5  # val bits/byte above HIGH x the entropy bound is "high" (the plan: "plateaus high")
WINDOW = 1 / 3  # "recently": the last third of the run's steps

PLAN = {  # the plan's "Scaling Adjustments" (/work/shared/training-plan.md), and the profile applying each
    "overfitting": ("a smaller model (5-7M params), more dropout (0.2-0.3), label smoothing 0.1, fewer epochs, "
                    "more weight decay (0.2)", "seed-6m"),
    "underfitting": ("a bigger model (~15M params), a longer context (1024), less dropout (0.05), train longer",
                     "seed-15m"),
    "improving": ("train longer: raise train.max_steps or train.epochs", None),
    "converged": ("nothing to change in training; judge the samples (notebook 05, `proofgpt evaluate`)", None),
    "too early": ("train further before judging the curves", None),
}


@dataclass
class Diagnosis:
    kind: str  # overfitting | improving | underfitting | converged | too early
    reason: str  # one sentence with the numbers that decided it
    advice: str  # the plan's adjustment
    profile: str | None = None  # the profile that applies it
    changes: dict = field(default_factory=dict)  # what that profile changes from `seed`
    evidence: dict = field(default_factory=dict)  # steps and losses the reason quotes

    def as_dict(self) -> dict:
        return asdict(self)

    def markdown(self) -> str:
        """The diagnosis for summary.md, notebook 04 and the end of `proofgpt train`."""
        lines = [f"**Diagnosis: {self.kind}.** {self.reason}", "", f"The plan's adjustment: {self.advice}."]
        if self.profile:
            changed = ", ".join(f"{k}={v}" for k, v in self.changes.items())
            lines[-1] += f" Profile `{self.profile}` applies it ({changed})."
        return "\n".join(lines)

    _repr_markdown_ = markdown


def profile_changes(name: str, base: str = "seed") -> dict:
    """{dotted key: value} where profile `name` differs from `base`: 'seed-6m' -> {'model.d_model': 256, ...}."""
    a, b = to_dict(load_profile(name)), to_dict(load_profile(base))
    return {f"{s}.{k}": v for s in a if isinstance(a[s], dict) for k, v in a[s].items() if b[s].get(k) != v}


def _rel(a: float, b: float) -> float:
    """Relative change from a to b: _rel(2.0, 1.5) -> -0.25."""
    return (b - a) / abs(a) if a else 0.0


def diagnose(metrics: list, entropy_bound_bpb: float | None = None) -> Diagnosis:
    """metrics.jsonl rows (only the eval rows are read) -> the plan's Diagnosis of the run."""
    evals = [r for r in metrics if r.get("kind") == "eval" and r.get("val_loss") is not None
             and r.get("train_loss") is not None]
    if len(evals) < MIN_EVALS:
        return _verdict("too early", f"{len(evals)} evaluation(s) with train and val loss; "
                        f"the curves say something from {MIN_EVALS} on", {"n_evals": len(evals)})
    best = min(evals, key=lambda r: r["val_loss"])
    last = evals[-1]
    # the window: from the last evaluation at or before 2/3 of the steps to the end
    start = [r for r in evals if r["step"] <= (1 - WINDOW) * last["step"]][-1:] or evals[:1]
    start = start[0]
    val_bpb = best["val_loss"] / math.log(2)
    train_bpb = best["train_loss"] / math.log(2)
    ev = {"n_evals": len(evals), "best_step": best["step"], "best_val_loss": best["val_loss"],
          "best_train_loss": best["train_loss"], "last_step": last["step"], "last_val_loss": last["val_loss"],
          "last_train_loss": last["train_loss"], "window_start_step": start["step"],
          "window_val_change": _rel(start["val_loss"], last["val_loss"]),
          "gap_at_best": best["val_loss"] - best["train_loss"], "gap_last": last["val_loss"] - last["train_loss"],
          "best_val_bpb": val_bpb, "entropy_bound_bpb": entropy_bound_bpb}

    rise, train_fall = _rel(best["val_loss"], last["val_loss"]), -_rel(best["train_loss"], last["train_loss"])
    if best is not last and rise > RISE and train_fall > CHANGE:
        return _verdict("overfitting", (
            f"val loss bottomed at {best['val_loss']:.4f} (step {best['step']}) and rose {100 * rise:.1f}% to "
            f"{last['val_loss']:.4f} (step {last['step']}) while train loss fell {100 * train_fall:.1f}% to "
            f"{last['train_loss']:.4f}: the gap grew from {ev['gap_at_best']:.4f} to {ev['gap_last']:.4f} nats; "
            f"the best checkpoint (step {best['step']}) predates the rise"), ev)
    if -ev["window_val_change"] > CHANGE and rise <= RISE:
        return _verdict("improving", (
            f"val loss fell {-100 * ev['window_val_change']:.1f}% over the last third of the run "
            f"({start['val_loss']:.4f} at step {start['step']} -> {last['val_loss']:.4f} at step {last['step']})"), ev)
    flat = (f"val loss levelled off at {best['val_loss']:.4f} nats ({val_bpb:.3f} bits/byte, best at step "
            f"{best['step']}; {100 * ev['window_val_change']:+.1f}% over the last third)")
    if entropy_bound_bpb is None:
        return _verdict("converged", flat + "; no entropy bound for this corpus, so whether that is high "
                        "cannot be judged", ev)
    if val_bpb > HIGH * entropy_bound_bpb and train_bpb > HIGH * entropy_bound_bpb:
        return _verdict("underfitting", (
            f"{flat}, {val_bpb / entropy_bound_bpb:.1f}x the entropy bound of {entropy_bound_bpb:.3f}, and the "
            f"train loss is as high ({best['train_loss']:.4f}, {train_bpb:.3f} bits/byte): the model cannot fit "
            f"its own train set"), ev)
    return _verdict("converged", f"{flat}, {val_bpb / entropy_bound_bpb:.1f}x the entropy bound of "
                    f"{entropy_bound_bpb:.3f}; train/val gap {ev['gap_at_best']:.4f} nats", ev)


def _verdict(kind: str, reason: str, evidence: dict) -> Diagnosis:
    advice, profile = PLAN[kind]
    return Diagnosis(kind, reason, advice, profile, profile_changes(profile) if profile else {}, evidence)
