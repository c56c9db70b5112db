"""Run configuration: one nested dataclass, profiles as YAML data, checked overrides.

A run is described by `RunConfig(data, model, train, sample, eval, report)`. Defaults live here;
profiles (`configs/smoke.yaml`, `cpu`, `seed`, `seed-15m`, `seed-6m`) are YAML files that change
some of them, and may `extends:` another profile. Overrides come from the command line
(`train.lr=3e-4` or `--train.lr=3e-4`) or from a dict (notebook / papermill parameters) and are
type-checked against the field types, like nanoGPT's configurator.py but without `exec`:

    >>> cfg = load_profile("smoke", ["train.lr=1e-3"])
    >>> cfg.train.lr
    0.001
    >>> load_profile("smoke", {"train.lrr": 1e-3})
    UserError: override 'train.lrr': unknown key in section 'train' (did you mean 'lr'?); valid keys: ...

Derived values (micro-batch tokens, gradient accumulation steps, tokens per optimizer step,
parameter count) are computed once by `derive()`, printed by the trainer and saved in
`runs/<name>/config.json`. `from_dict` fills fields a saved config lacks with today's defaults,
so checkpoints written before a field existed still load.
"""

import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from proofgpt import paths
from proofgpt.errors import UserError


@dataclass
class DataConfig:
    # The corpus. train/val come from `split_corpus` next to it (what `make data` writes), or,
    # if those are missing or were split from another file, from a split into the run dir.
    path: str = "data/training.txt"
    # > 0: generate a fresh corpus of this many characters into <run_dir>/data/ instead of
    # reading `path` (smoke runs and tests: self-contained, no `make data` needed).
    generate_chars: int = 0
    generate_seed: int = 0
    split_seed: int = 0
    val_frac: float = 0.1
    # certificates | text. text: data.path is any file, read as raw bytes (no certificate
    # parsing), split contiguously (the first 1 - val_frac train); rows are random windows
    # (train.rows is ignored) and the losses are over non-overlapping windows (pack.windows).
    format: str = "certificates"


@dataclass
class ModelConfig:
    """The GPT's shape and regularisation: the `model` section of a profile, and what `GPT` is
    built from (`GPT(cfg.model)`). Torch-free, so loading a profile needs no torch."""

    vocab_size: int = 256  # bytes
    ctx: int = 512
    d_model: int = 320
    n_layers: int = 8
    n_heads: int = 10  # head_dim 32
    d_mlp: int = 1280  # 4 x d_model
    norm: str = "rmsnorm"  # rmsnorm | layernorm
    act: str = "gelu"  # gelu | silu
    pos: str = "learned"  # learned | rope
    # Residual dropout (after each attention/MLP output projection and on the embeddings) is
    # cheap. Attention dropout (on the attention probabilities) forces SDPA's unfused math
    # kernel, several times slower on CPU (`make bench` measures it): off by default.
    dropout: float = 0.1
    attn_dropout: float = 0.0
    bias: bool = False  # biases in Linear and LayerNorm: False is a bit better and faster

    def __post_init__(self):
        if self.norm not in ("rmsnorm", "layernorm"):
            raise ValueError(f"norm must be 'rmsnorm' or 'layernorm', got {self.norm!r}")
        if self.act not in ("gelu", "silu"):
            raise ValueError(f"act must be 'gelu' or 'silu', got {self.act!r}")
        if self.pos not in ("learned", "rope"):
            raise ValueError(f"pos must be 'learned' or 'rope', got {self.pos!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.pos == "rope" and (self.d_model // self.n_heads) % 2:
            raise ValueError("rope needs an even head dimension")


@dataclass
class TrainConfig:
    seed: int = 0
    batch_size: int = 32  # rows (of ctx tokens) per micro-batch per process
    tokens_per_step: int = 65536  # target tokens per optimizer step; sets gradient accumulation
    epochs: int = 60
    max_steps: Optional[int] = None  # stop early after this many optimizer steps (None = all epochs)
    lr: float = 3e-4  # peak learning rate
    min_lr: float = 3e-5  # cosine floor
    warmup_steps: int = 1000
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.1  # not applied to norms, biases, and embeddings unless decay_embeddings
    decay_embeddings: bool = False  # nanoGPT decays the token/position embeddings too
    rows: str = "packed"  # packed | repacked | windows | packed_offset: pack.TrainRows
    grad_clip: float = 1.0  # 0 = no clipping (the pre-clip norm is logged either way)
    label_smoothing: float = 0.0
    patience: int = 8  # evaluations without val improvement before stopping (0 = never)
    eval_every: Optional[int] = None  # also evaluate every N optimizer steps (None = each epoch only)
    ckpt_every: Optional[int] = None  # also write ckpt/last every N steps (None = each epoch only)
    keep_best: int = 3  # best checkpoints kept by val loss
    eval_batch_size: int = 64  # rows per batch when measuring val / train loss
    train_eval_rows: int = 0  # fixed train rows for the train-loss measurement (0 = as many as val)
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on CUDA, fp16 if bf16 is missing, fp32 on CPU) | fp32 | bf16 | fp16
    compile: bool = False  # torch.compile the model (CUDA; minutes of warm-up)
    # CPU threads for torch (0 = torch's default: all cores). Tiny models run faster on one
    # (threads fight other processes for the cores on a busy machine).
    threads: int = 0


@dataclass
class SampleConfig:
    temperature: float = 0.8  # 0 = greedy
    top_k: Optional[int] = None
    top_p: float = 0.9
    max_new_tokens: int = 384
    seed: int = 0
    stop_at_qed: bool = True

    def generate_kwargs(self) -> dict:
        """How to sample, as generate()'s keyword arguments (the seed is passed on its own)."""
        return dict(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)


@dataclass
class EvalConfig:
    monitor_theorems: int = 16  # K val theorems completed at each training eval (0 = skip)
    n_theorems: int = 200  # held-out theorems drawn (seeded) for `proofgpt evaluate`
    pass_k: int = 8  # samples per theorem and seed for pass@k
    n_unconditional: int = 64  # unconditional samples for the memorization check
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # sampling seeds; the spread is reported
    baseline_budget_s: float = 1.0  # blind search's default budget per theorem (baseline.DEFAULT_BUDGET_S)
    baseline_budget_goals: int = 10_000  # and in expanded terms (baseline.DEFAULT_BUDGET_GOALS)
    # model-guided search (search.prove): its token budget is sampling's, pass_k x sample.max_new_tokens
    search_e: int = 8  # candidate steps per expansion (search.DEFAULT_E)
    search_expansions: int = 32  # expansions per theorem at most, at every budget
    search_budgets: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0])  # budget curve, x sampling's


@dataclass
class ReportConfig:
    execution_timeout_s: int = 1800  # per notebook cell under papermill
    kernel_name: str = "python3"


@dataclass
class RunConfig:
    profile: str = "custom"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: ReportConfig = field(default_factory=ReportConfig)


SECTIONS = ("data", "model", "train", "sample", "eval", "report")
# why every certificate-only part (checker, evaluation, certificate statistics) skips a text run, in one line
NO_CERTIFICATES = "a data.format=text run has no certificates"
CHOICES = {
    "data.format": ("certificates", "text"),
    "model.norm": ("rmsnorm", "layernorm"),
    "model.act": ("gelu", "silu"),
    "model.pos": ("learned", "rope"),
    "train.device": ("auto", "cpu", "cuda"),
    "train.rows": ("packed", "repacked", "windows", "packed_offset"),
    "train.dtype": ("auto", "fp32", "bf16", "fp16"),
}
# numeric limits checked at the edge (validate, and the commands' own options)
SEED_LIMIT = 2**63  # seeds are in [0, 2**63): every RNG here takes them (numpy's legacy one mod 2**32)
MIN_TEMPERATURE = 1e-3  # below it logits / T overflow float32 to inf; 0 means greedy
MAX_CHARS = 10**9  # a generated corpus of at most 1G characters
MAX_THREADS = max(64, os.cpu_count() or 1)  # torch segfaults asked for 100000 OpenMP threads


def check_seed(value, where: str) -> int:
    """value if it is a seed (an int in [0, 2**63)), else a UserError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_LIMIT:
        raise UserError(f"{where}={value!r}: must be an integer in [0, 2**63)")
    return value


def check_temperature(value, where: str) -> float:
    """value if it is a sampling temperature (0, or finite and >= 1e-3), else a UserError."""
    if not (value == 0 or (math.isfinite(value) and value >= MIN_TEMPERATURE)):
        raise UserError(f"{where}={value!r}: must be 0 (greedy) or a finite number >= {MIN_TEMPERATURE:g}")
    return value


# model fields that change parameter shapes or what the weights mean: a checkpoint cannot
# continue under a config that differs in any of them
MODEL_SHAPE_KEYS = ("vocab_size", "ctx", "d_model", "n_layers", "n_heads", "d_mlp", "norm", "act", "pos", "bias")


# --------------------------------------------------------------------------------------------
# dict <-> dataclass


def to_dict(cfg: RunConfig) -> dict:
    """RunConfig -> plain nested dict (JSON/YAML-ready)."""
    return dataclasses.asdict(cfg)


def from_dict(d: dict, strict: bool = True, source: str = "config") -> RunConfig:
    """Nested dict -> RunConfig. Missing keys take today's defaults (old checkpoints still load);
    unknown keys are a UserError when strict, else ignored (a field removed since)."""
    cfg = RunConfig()
    _apply(cfg, _flatten(d, source), source, strict=strict, from_text=False)
    return cfg


def _flatten(d: dict, source: str, prefix: str = "") -> dict:
    """{"train": {"lr": 1}} -> {"train.lr": 1}; dotted keys pass through."""
    if not isinstance(d, dict):
        raise UserError(f"{source}: expected a mapping of sections, got {type(d).__name__}")
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, source, key + "."))
        else:
            flat[key] = v
    return flat


def _did_you_mean(word, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_types(section_obj) -> dict:
    hints = typing.get_type_hints(type(section_obj))
    return {f.name: hints[f.name] for f in dataclasses.fields(section_obj)}


def _unwrap_optional(tp):
    """Optional[int] -> (int, True); float -> (float, False)."""
    args = typing.get_args(tp)
    if (typing.get_origin(tp) in (typing.Union, types.UnionType)) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return tp, False


def _parse_text(text: str, tp, where: str):
    """A command-line string -> a value of type tp, or UserError. '3e-4' -> 3e-4, 'none' -> None."""
    base, optional = _unwrap_optional(tp)
    s = text.strip()
    if optional and s.lower() in ("none", "null", "~", ""):
        return None
    if typing.get_origin(base) is list:  # '0,1,2' or '[0, 1, 2]'
        return [_parse_text(part, typing.get_args(base)[0], where) for part in s.strip("[]").split(",") if part.strip()]
    try:
        if base is bool:
            if s.lower() in ("true", "1", "yes", "on"):
                return True
            if s.lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if base is int:
            try:
                return int(s)
            except ValueError:
                f = float(s)  # allow '1e3' for counts, but only exact integers
                if f != int(f):
                    raise
                return int(f)
        if base is float:
            return float(s)
        return s
    except ValueError:
        raise UserError(f"{where}: expected {_type_name(tp)}, got {text!r}") from None


def _check_value(value, tp, where: str):
    """A typed value (YAML / dict / papermill) -> value checked against tp (int promotes to float)."""
    base, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise UserError(f"{where}: expected {_type_name(tp)}, got null")
    if typing.get_origin(base) is list:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        return [_check_value(v, typing.get_args(base)[0], where) for v in value]
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is int and isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # YAML reads 1e3 as a float
    if isinstance(value, base) and not (base is int and isinstance(value, bool)):
        return value
    raise UserError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def _type_name(tp) -> str:
    base, optional = _unwrap_optional(tp)
    return f"{base.__name__} or none" if optional else base.__name__


def _apply(cfg: RunConfig, flat: dict, source: str, strict: bool = True, from_text: bool = False):
    """Set dotted keys on cfg in place, type-checked. from_text: values are CLI strings."""
    for key, value in flat.items():
        where = f"{source} {key!r}"
        if key == "profile":
            cfg.profile = str(value)
            continue
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            if not strict:
                continue
            valid = ", ".join(SECTIONS)
            raise UserError(f"{where}: unknown section {section!r}{_did_you_mean(section, SECTIONS)}; "
                            f"keys look like 'train.lr', sections: {valid}")
        sub = getattr(cfg, section)
        types_ = _field_types(sub)
        if name not in types_:
            if not strict:
                continue
            raise UserError(f"{where}: unknown key in section {section!r}{_did_you_mean(name, types_)}; "
                            f"valid keys: {', '.join(types_)}")
        tp = types_[name]
        value = _parse_text(str(value), tp, where) if from_text else _check_value(value, tp, where)
        setattr(sub, name, value)


# --------------------------------------------------------------------------------------------
# profiles and overrides


def profile_path(name_or_path) -> Path:
    """'smoke' -> configs/smoke.yaml; an existing path is used as is."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise UserError(f"{p}: no such profile file")
        return p
    p = paths.CONFIGS_DIR / f"{name_or_path}.yaml"
    if not p.exists():
        names = sorted(q.stem for q in paths.CONFIGS_DIR.glob("*.yaml"))
        raise UserError(f"{p}: no such profile{_did_you_mean(str(name_or_path), names)}; "
                        f"profiles: {', '.join(names)}")
    return p


def _read_profile(path: Path, seen=()) -> dict:
    """A profile file -> flat dict of dotted keys, its `extends:` chain applied first."""
    if path.resolve() in seen:
        raise UserError(f"{path}: 'extends' loops back to itself")
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(d, dict):
        raise UserError(f"{path}: a profile is a mapping of sections (data, model, train, ...)")
    flat = {}
    base = d.pop("extends", None)
    if base:
        flat.update(_read_profile(profile_path(base), seen + (path.resolve(),)))
    flat.update(_flatten(d, str(path)))
    return flat


def parse_overrides(overrides) -> tuple[dict, bool]:
    """CLI strings or a dict -> ({dotted key: value}, values_are_text).

    >>> parse_overrides(["--train.lr=3e-4", "model.ctx=128"])
    ({'train.lr': '3e-4', 'model.ctx': '128'}, True)
    """
    if overrides is None:
        return {}, False
    if isinstance(overrides, dict):
        return _flatten(overrides, "overrides"), False
    flat = {}
    for item in overrides:
        s = str(item)
        body = s[2:] if s.startswith("--") else s
        if "=" not in body:
            raise UserError(f"override {s!r}: expected key=value, e.g. train.lr=3e-4")
        k, v = body.split("=", 1)
        flat[k.strip()] = v
    return flat, True


def load_profile(name_or_path="smoke", overrides=()) -> RunConfig:
    """Profile name or YAML path + overrides (list of 'a.b=v' strings or a dict) -> RunConfig."""
    path = profile_path(name_or_path)
    cfg = RunConfig(profile=path.stem)
    _apply(cfg, _read_profile(path), str(path), strict=True, from_text=False)
    flat, from_text = parse_overrides(overrides)
    _apply(cfg, flat, "override", strict=True, from_text=from_text)
    validate(cfg)
    return cfg


def apply_overrides(cfg: RunConfig, overrides) -> RunConfig:
    """A copy of cfg with overrides applied and validated (used by --resume with key=value)."""
    cfg = from_dict(to_dict(cfg))
    flat, from_text = parse_overrides(overrides)
    _apply(cfg, flat, "override", strict=True, from_text=from_text)
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    """Value checks the types cannot express; UserError naming the key."""
    for key, options in CHOICES.items():
        section, name = key.split(".")
        v = getattr(getattr(cfg, section), name)
        if v not in options:
            raise UserError(f"{key}={v!r}: expected one of {', '.join(options)}{_did_you_mean(v, options)}")
    for section in SECTIONS:  # NaN and inf pass every comparison below, so refuse them first
        for f in dataclasses.fields(getattr(cfg, section)):
            v = getattr(getattr(cfg, section), f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise UserError(f"{section}.{f.name}={v!r}: must be a finite number")
    for key in ("data.generate_seed", "data.split_seed", "train.seed", "sample.seed"):
        section, name = key.split(".")
        check_seed(getattr(getattr(cfg, section), name), key)
    check_temperature(cfg.sample.temperature, "sample.temperature")
    m, t, s = cfg.model, cfg.train, cfg.sample
    checks = [
        ("model.vocab_size", m.vocab_size == 256, "must be 256 (tokens are bytes)"),
        ("model.ctx", m.ctx >= 8, "must be >= 8"),
        ("model.n_heads", m.n_heads > 0 and m.d_model % m.n_heads == 0,
         f"must divide model.d_model={m.d_model}"),
        ("model.n_layers", m.n_layers >= 1, "must be >= 1"),
        ("model.d_mlp", m.d_mlp >= 1, "must be >= 1"),
        ("model.dropout", 0.0 <= m.dropout < 1.0, "must be in [0, 1)"),
        ("model.attn_dropout", 0.0 <= m.attn_dropout < 1.0, "must be in [0, 1)"),
        ("train.batch_size", t.batch_size >= 1, "must be >= 1"),
        ("train.tokens_per_step", t.tokens_per_step >= 0, "must be >= 0 (0 = one micro-batch)"),
        ("train.epochs", t.epochs >= 1, "must be >= 1"),
        ("train.max_steps", t.max_steps is None or t.max_steps >= 1, "must be >= 1 or none"),
        ("train.lr", t.lr > 0 and math.isfinite(t.lr), "must be > 0"),
        ("train.min_lr", 0 <= t.min_lr <= t.lr, f"must be in [0, train.lr={t.lr}]"),
        ("train.warmup_steps", t.warmup_steps >= 0, "must be >= 0"),
        ("train.beta1", 0 <= t.beta1 < 1, "must be in [0, 1)"),
        ("train.beta2", 0 <= t.beta2 < 1, "must be in [0, 1)"),
        ("train.weight_decay", t.weight_decay >= 0, "must be >= 0"),
        ("train.grad_clip", t.grad_clip >= 0, "must be >= 0 (0 = off)"),
        ("train.label_smoothing", 0 <= t.label_smoothing < 1, "must be in [0, 1)"),
        ("train.patience", t.patience >= 0, "must be >= 0 (0 = never stop early)"),
        ("train.eval_every", t.eval_every is None or t.eval_every >= 1, "must be >= 1 or none"),
        ("train.ckpt_every", t.ckpt_every is None or t.ckpt_every >= 1, "must be >= 1 or none"),
        ("train.keep_best", t.keep_best >= 1, "must be >= 1"),
        ("train.threads", 0 <= t.threads <= MAX_THREADS, f"must be in [0, {MAX_THREADS}] (0 = torch's default)"),
        ("train.eval_batch_size", t.eval_batch_size >= 1, "must be >= 1"),
        ("train.train_eval_rows", t.train_eval_rows >= 0, "must be >= 0"),
        ("data.val_frac", 0 < cfg.data.val_frac < 1, "must be in (0, 1)"),
        ("data.generate_chars", 0 <= cfg.data.generate_chars <= MAX_CHARS, f"must be in [0, {MAX_CHARS:.0e}]"),
        ("data.generate_chars", cfg.data.format == "certificates" or cfg.data.generate_chars == 0,
         "must be 0 with data.format=text (a text run reads data.path)"),
        ("sample.top_p", 0 < s.top_p <= 1, "must be in (0, 1]"),
        ("sample.top_k", s.top_k is None or s.top_k >= 1, "must be >= 1 or none"),
        ("sample.max_new_tokens", 1 <= s.max_new_tokens <= m.ctx, f"must be in [1, model.ctx={m.ctx}]"),
        ("eval.monitor_theorems", cfg.eval.monitor_theorems >= 0, "must be >= 0 (0 = skip)"),
        ("eval.n_theorems", cfg.eval.n_theorems >= 1, "must be >= 1"),
        ("eval.pass_k", cfg.eval.pass_k >= 1, "must be >= 1"),
        ("eval.n_unconditional", cfg.eval.n_unconditional >= 0, "must be >= 0 (0 = skip)"),
        ("eval.search_e", cfg.eval.search_e >= 1, "must be >= 1"),
        ("eval.search_expansions", cfg.eval.search_expansions >= 1, "must be >= 1"),
        ("eval.search_budgets", cfg.eval.search_budgets and min(cfg.eval.search_budgets) > 0,
         "must be positive multiples of the sampling budget, at least one"),
        ("report.execution_timeout_s", cfg.report.execution_timeout_s >= 1, "must be >= 1"),
    ]
    for key, ok, why in checks:
        if not ok:
            section, name = key.split(".")
            raise UserError(f"{key}={getattr(getattr(cfg, section), name)!r}: {why}")


# --------------------------------------------------------------------------------------------
# derived values


def grad_accum_steps(cfg: RunConfig, world_size: int = 1) -> int:
    """Micro-batches per optimizer step per process so a step sees ~train.tokens_per_step tokens.

    >>> cfg = load_profile("seed")   # batch_size 32, ctx 512, tokens_per_step 65536
    >>> grad_accum_steps(cfg, 1), grad_accum_steps(cfg, 2)
    (4, 2)
    """
    micro = cfg.train.batch_size * cfg.model.ctx * world_size
    return max(1, round(cfg.train.tokens_per_step / micro)) if cfg.train.tokens_per_step else 1


def derive(cfg: RunConfig, world_size: int = 1, n_params: Optional[int] = None) -> dict:
    """The numbers a config implies, computed once: saved in config.json and checkpoints."""
    accum = grad_accum_steps(cfg, world_size)
    micro_tokens = cfg.train.batch_size * cfg.model.ctx
    return {
        "world_size": world_size,
        "micro_batch_tokens": micro_tokens,
        "grad_accum_steps": accum,
        "rows_per_step": cfg.train.batch_size * accum * world_size,
        "tokens_per_step": micro_tokens * accum * world_size,
        "n_params": n_params,  # the caller's model.num_params(); None when no model was built
    }


def describe(cfg: RunConfig, derived: dict) -> str:
    """One paragraph for the log: profile, model shape, batch arithmetic."""
    m, t = cfg.model, cfg.train
    n = derived.get("n_params")
    params = f"{n / 1e6:.2f}M params" if n else "params: ?"
    return (f"profile {cfg.profile}: {params}, d_model {m.d_model}, {m.n_layers} layers, {m.n_heads} heads, "
            f"ctx {m.ctx}, dropout {m.dropout}; batch {t.batch_size} x ctx {m.ctx} x accum "
            f"{derived['grad_accum_steps']} x world {derived['world_size']} = {derived['tokens_per_step']:,} "
            f"tokens/step; lr {t.lr:g} -> {t.min_lr:g}, warmup {t.warmup_steps}, {t.epochs} epochs")
