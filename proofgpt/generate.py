"""The seeded certificate generator: `python -m proofgpt data generate` -> data/training.txt + meta.

Four families of theorems, every proof correct by construction (the checker verifies 100 %):

- catalog:    a textbook fact of proofgpt.algebra's catalog, its constants instantiated with
              random terms (`inv_inv_17 : (a * b)⁻¹⁻¹ = a * b`), proved by its script;
- walk:       a random term rewritten by random axioms at random positions; the endpoints are the
              theorem. The proof rewrites the left side forward, or meets in the middle (the right
              side rewritten backward), or turns around with `symm`;
- lemma:      a walk whose first step cites a catalog lemma or the theorem of an earlier
              certificate of the same file (`@P group_walk_12 : x * (y * 1) = x * y`);
- hypothesis: a walk that rewrites with hypotheses `h1 … hk` of the theorem (`h1 : a * b = c`).

Every random choice goes through `Chooser`, which records its log2 probability in the
certificate's meta `log2p` list; -Σ log2p / file bytes bounds the corpus entropy from above (a
certificate that is drawn and thrown away, e.g. for being too long, is not counted: the accepted
one's probability only grows under rejection, so the bound stays an upper bound). Theorem names
carry the certificate's index (`group_walk_1234`), a deterministic counter, not a choice.

Trade-off: ctx-512 packing wants short certificates, the plan wants proofs up to ~40 steps.
Three size classes: ~35 % "short" (<= 200 bytes: 1-3 steps, small terms; the fillers for the
gaps longer certificates leave), ~63 % "regular" (<= 511 bytes, so certificate + "\n\n" fits a
513-token row; kept with probability falling linearly from 1 at 320 bytes to 0 at 511, logged
in log2p, because nothing fills the last < 100 tokens behind a 420-byte certificate) and ~2 %
"long" (512-2048 bytes, the 10-40 step proofs, split at line ends by the packer). On the 3.68M-char
seed-0 corpus: 15,271 certificates, median 210 bytes, p97 459, 1.8 % over 511; steps 1-34
(median 3); packing efficiency 98.3 % at ctx 512 and 98.8 % at 1024 (88 % before the classes).
The price: small terms repeat, so 7,849 distinct theorem statements, and rejected draws halve
the speed (~40-100k chars/s here, the machine shared). GENERATOR_VERSION is bumped whenever the
output changes, so `data prepare` regenerates a stale file of ours.
Same seed and size -> byte-identical file (only random.Random(seed) is used, never the clock).
"""

import argparse
import json
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from proofgpt import paths
from proofgpt.algebra import CATALOG, CATALOG_FACTS, STRUCTURES, Fact, axioms_subset, catalog_lemmas
from proofgpt.certificate import corpus_owner
from proofgpt.errors import UserError
from proofgpt.io import atomic_write_json, atomic_write_text, sha256_bytes
from proofgpt.terms import (BINARY, canonical, POSTFIX, SYMBOLS, App, Atom, Var, match, names, parse_args,
                            parse_equation,
                            positions, print_arg, print_equation, print_term, replace, size, substitute,
                            to_pattern, variables)

PLAN_CHARS = 3_680_000  # the training plan: the corpus is ~3.68M characters
GENERATOR_VERSION = 2  # stored in the manifest; bump whenever the output for a seed changes
SHORT_MAX_BYTES = 200  # "short": fillers for the gaps that longer certificates leave in a row
TAPER_BYTES = 320  # "regular" certificates longer than this are kept with probability falling to 0 at MAX_BYTES
MAX_BYTES = 511  # "regular": certificate + "\n\n" fits a ctx-512 row (513 tokens)
LONG_MAX_BYTES = 2048  # "long": split across at most ~4 rows by the packer
SIZE_CLASSES = ("short", "regular", "long")
SIZE_CLASS_WEIGHTS = (0.35, 0.63, 0.02)
CONSTANTS = ("a", "b", "c", "d")
PATTERN_VARS = ("x", "y", "z", "w", "u", "v")


# ----------------------------------------------------------------------------- random choices

class Chooser:
    """random.Random(seed) plus a log of log2-probabilities of the choices kept for one certificate.

        >>> ch = Chooser(0); ch.choice("abcd") in "abcd", ch.log2p
        (True, [-2.0])
    """

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.log2p = []

    def choice(self, seq):
        n = len(seq)
        if n == 1:
            return seq[0]
        self.log2p.append(-math.log2(n))
        return seq[self.rng.randrange(n)]

    def weighted(self, seq, weights):
        total = sum(weights)
        r = self.rng.random() * total
        for item, w in zip(seq, weights):
            r -= w
            if r < 0:
                break
        if w < total:
            self.log2p.append(math.log2(w / total))
        return item

    def pick_until(self, seq, ok):
        """A uniform pick among the items of seq that satisfy ok (tested lazily), or None.

        Items failing ok are dropped and the pick repeated; only the accepted pick is logged, as
        1/len(remaining) <= its true probability 1/|{ok items}| (so the bound stays an upper bound).
        """
        remaining = list(seq)
        while remaining:
            j = self.rng.randrange(len(remaining))
            if ok(remaining[j]):
                if len(remaining) > 1:
                    self.log2p.append(-math.log2(len(remaining)))
                return remaining[j]
            remaining[j] = remaining[-1]
            remaining.pop()
        return None


# ----------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class Rule:
    """A premise the generator rewrites with: an axiom, a lemma or a hypothesis, as @P writes it."""

    name: str
    lhs: object
    rhs: object
    order: tuple  # pattern variables by first appearance, left side first
    text: str  # the statement after '@P name : '
    kind: str  # "axiom" | "lemma" | "hyp"


@dataclass(frozen=True)
class RuleDir:
    rule: Rule
    backward: bool
    src: object
    dst: object
    root: str | None  # root op / atom name of src; None when src is a variable (matches anywhere)
    dst_base: int  # size(dst) minus its variable occurrences
    dst_occ: tuple  # variable occurrences in dst
    unbound: tuple  # variables of dst that src does not bind (need an explicit instance)


def _root(t):
    return None if type(t) is Var else (t.op if type(t) is App else t.name)


def _var_occurrences(t, out):
    if type(t) is Var:
        out.append(t.name)
    elif type(t) is App:
        for a in t.args:
            _var_occurrences(a, out)
    return out


def is_symmetric(rule: Rule) -> bool:
    """mul_comm (x * y = y * x) reads the same both ways: it is only ever used forward."""
    return canonical(rule.lhs, rule.rhs) == canonical(rule.rhs, rule.lhs)


_RULE_DIRS = {}


def rule_dirs(rule: Rule) -> list[RuleDir]:
    """The directions a rule rewrites in (one for a symmetric rule), cached per rule."""
    key = (rule.name, rule.text, rule.kind)
    if key not in _RULE_DIRS:
        if len(_RULE_DIRS) > 50_000:
            _RULE_DIRS.clear()
        _RULE_DIRS[key] = _rule_dirs(rule)
    return _RULE_DIRS[key]


def _rule_dirs(rule: Rule) -> list[RuleDir]:
    out = []
    for backward in ((False,) if is_symmetric(rule) else (False, True)):
        src, dst = (rule.rhs, rule.lhs) if backward else (rule.lhs, rule.rhs)
        occ = _var_occurrences(dst, [])
        src_vars = set(variables(src))
        unbound = tuple(v for v in variables(dst) if v not in src_vars)
        out.append(RuleDir(rule, backward, src, dst, _root(src), size(dst) - len(occ), tuple(occ), unbound))
    return out


def _pattern_rename(lhs, rhs):
    """Constants -> x, y, z, ... by first appearance: (b * a = a * b) -> (x * y = y * x) as Vars."""
    order = names(rhs, names(lhs))
    ren = {n: Var(PATTERN_VARS[i] if i < len(PATTERN_VARS) else f"x{i}") for i, n in enumerate(order)}
    return substitute(lhs, ren), substitute(rhs, ren)


def make_rule(name, lhs, rhs, kind) -> Rule:
    return Rule(name, lhs, rhs, tuple(variables(rhs, variables(lhs))), print_equation(lhs, rhs), kind)


_AXIOM_RULES = {s.name: [make_rule(a, l, r, "axiom") for a, (l, r) in s.axioms.items()] for s in STRUCTURES.values()}


_FACT_RULES = {}


def _fact_rule(fact: Fact) -> Rule:
    if fact not in _FACT_RULES:
        lhs, rhs = parse_equation(fact.conclusion)
        _FACT_RULES[fact] = make_rule(fact.name, *_pattern_rename(lhs, rhs), "lemma")
    return _FACT_RULES[fact]


# ----------------------------------------------------------------------------- steps and rendering

def tactic_text(step) -> str:
    """('rw', rule, backward, args) -> 'rw [← one_mul b]'; ('symm',) -> 'symm'."""
    if step[0] == "symm":
        return "symm"
    _, name, backward, args = step
    parts = (["← "] if backward else []) + [name] + [" " + print_arg(a) for a in args]
    return "rw [" + "".join(parts) + "]"


def _premise_lines(rules_used, structure, hyps):
    """@P lines: axioms in the structure's table order, then lemmas by first use, then h1..hk."""
    axioms = [r for r in rules_used if r.kind == "axiom"]
    order = list(STRUCTURES[structure].axioms)
    axioms.sort(key=lambda r: order.index(r.name))
    lemmas = [r for r in rules_used if r.kind == "lemma"]
    hyp_lines = [(f"h{i + 1}", print_equation(*h)) for i, h in enumerate(hyps)]
    return [(r.name, r.text) for r in axioms + lemmas] + hyp_lines


def render(name, structure, hyps, concl, premises, steps, rename=False) -> str:
    """The certificate text (no trailing newline). steps: [(tactic tuple, (lhs, rhs) after it)].

    rename=True renames the constants a, b, c, d in order of first appearance (theorem first), so
    that `b * c = c * b` is written `a * b = b * a`: same theorem, fewer spellings to learn.
    """
    s = STRUCTURES[structure]
    terms = [t for h in hyps for t in h] + list(concl)
    for tac, goal in steps:
        terms += list(goal) + (list(tac[3]) if tac[0] == "rw" else [])
    consts = []
    for t in terms:
        names(t, consts)
    if rename and consts != list(CONSTANTS[: len(consts)]) and len(consts) <= len(CONSTANTS):
        ren = {c: Atom(CONSTANTS[i]) for i, c in enumerate(consts)}
        sub = lambda t: substitute(t, ren)  # noqa: E731
        hyps = [(sub(l), sub(r)) for l, r in hyps]
        concl = (sub(concl[0]), sub(concl[1]))
        steps = [((tac[0], tac[1], tac[2], tuple(sub(a) for a in tac[3])) if tac[0] == "rw" else tac,
                  (sub(g[0]), sub(g[1]))) for tac, g in steps]
        premises = [(n, print_equation(*hyps[int(n[1:]) - 1]) if _is_hyp(n) else t) for n, t in premises]
        consts = CONSTANTS[: len(consts)]
    lines = ["@T " + name + " : " + " → ".join(print_equation(*e) for e in list(hyps) + [concl]),
             f"@C {s.type_name} : {structure}"]
    if consts:
        lines.append(f"@C {' '.join(sorted(consts))} : {s.type_name}")
    lines += [f"@P {n} : {text}" for n, text in premises]
    lines.append("@G " + print_equation(*concl))
    for tac, goal in steps:
        lines.append(tactic_text(tac))
        lines.append("@G " + print_equation(*goal))
    lines += ["rfl", "qed"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- catalog scripts

def _parse_rw(text):
    """'rw [← mul_one a⁻¹]' -> ('mul_one', True, [a⁻¹])"""
    inner = text[4:-1].strip()
    backward = inner.startswith("←")
    inner = inner[1:].strip() if backward else inner
    name, _, rest = inner.partition(" ")
    return name, backward, (parse_args(rest) if rest.strip() else [])


def _first_rewrite(goal, rd: RuleDir, binding):
    """Rewrite the first instance (pre-order, left side first) of rd.src whose rd.dst is bound."""
    for side in (0, 1):
        for pos, sub in positions(goal[side]):
            b = match(rd.src, sub, dict(binding))
            if b is None or any(v not in b for v in rd.unbound):
                continue
            new = replace(goal[side], pos, substitute(rd.dst, b))
            return (new, goal[1]) if side == 0 else (goal[0], new)
    raise ValueError(f"{rd.rule.name}: no instance in {print_equation(*goal)}")


_PROOFS = {}


def prove_fact(fact: Fact):
    """Run a catalog script -> (hyps, concl, premises, steps), goals computed by first-instance rewriting."""
    key = (fact.name, fact.structure)
    if key in _PROOFS:
        return _PROOFS[key]
    eqs = [parse_equation(s) for s in fact.statement.split("→")]
    hyps, concl = eqs[:-1], eqs[-1]
    rules = {r.name: r for r in _AXIOM_RULES[fact.structure]}
    for f in catalog_lemmas(fact.structure):
        if CATALOG_FACTS.index(f) < CATALOG_FACTS.index(fact):
            rules[f.name] = _fact_rule(f)
    for i, (l, r) in enumerate(hyps):
        rules[f"h{i + 1}"] = make_rule(f"h{i + 1}", l, r, "hyp")
    goal, steps, used = concl, [], []
    for step in fact.script:
        text, want = (step, None) if isinstance(step, str) else step
        if text == "symm":
            goal = (goal[1], goal[0])
            steps.append((("symm",), goal))
            continue
        name, backward, args = _parse_rw(text)
        rule = rules[name]
        rd = rule_dirs(rule)[-1 if backward else 0]
        goal = parse_equation(want) if want else _first_rewrite(goal, rd, dict(zip(rule.order, args)))
        steps.append((("rw", name, backward, tuple(args)), goal))
        if rule not in used:
            used.append(rule)
    if goal[0] != goal[1]:
        raise ValueError(f"{fact.name}: script ends at {print_equation(*goal)}, not x = x")
    out = (hyps, concl, _premise_lines([r for r in used if r.kind != "hyp"], fact.structure, hyps), steps)
    _PROOFS[key] = out
    return out


def catalog_certificate(fact: Fact, name=None, mapping=None) -> str:
    """The fact's certificate, its constants replaced by `mapping` terms: ({a: b * c}) -> text."""
    hyps, concl, premises, steps = prove_fact(fact)
    if mapping:
        sub = lambda t: substitute(t, mapping)  # noqa: E731
        hyps = [(sub(l), sub(r)) for l, r in hyps]
        concl = (sub(concl[0]), sub(concl[1]))
        steps = [((tac[0], tac[1], tac[2], tuple(sub(a) for a in tac[3])) if tac[0] == "rw" else tac,
                  (sub(g[0]), sub(g[1]))) for tac, g in steps]
        premises = [(n, print_equation(*hyps[int(n[1:]) - 1]) if _is_hyp(n) else t) for n, t in premises]
    return render(name or fact.name, fact.structure, hyps, concl, premises, steps, rename=bool(mapping))


def _is_hyp(name):
    return name[0] == "h" and name[1:].isdigit()


# ----------------------------------------------------------------------------- random terms and walks

def random_term(ch: Chooser, structure: str, consts, n_ops: int):
    """A random term with n_ops operator nodes over `consts` and the structure's symbols."""
    ops = STRUCTURES[structure].operators
    if n_ops == 0:
        leaves = list(consts) + sorted(o for o in ops if o in SYMBOLS)
        weights = [4] * len(consts) + [1] * (len(leaves) - len(consts))
        return Atom(ch.weighted(leaves, weights))
    opers = sorted(o for o in ops if o in BINARY) + sorted(o for o in ops if o in POSTFIX or o == "-")
    weights = [3 if o in BINARY else 1 for o in opers]
    op = ch.weighted(opers, weights)
    if op in BINARY:
        k = ch.choice(range(n_ops))
        return App(op, (random_term(ch, structure, consts, k), random_term(ch, structure, consts, n_ops - 1 - k)))
    return App(op, (random_term(ch, structure, consts, n_ops - 1),))


def _sizes(t, out):
    """Fills out[id(subterm)] = size for every subterm of t; returns the size of t."""
    n = 1
    if type(t) is App:
        for a in t.args:
            n += _sizes(a, out)
    out[id(t)] = n
    return n


def _candidates(t, rdirs):
    """Groups (one per rule direction) of (rule dir, position, size after, binding) matching in t."""
    sizes = {}
    t_size = _sizes(t, sizes)
    pos = positions(t)
    by_root = {}
    for p, s in pos:
        by_root.setdefault(s.op if type(s) is App else s.name, []).append((p, s))
    groups = []
    for rd in rdirs:
        found = []
        for p, s in (pos if rd.root is None else by_root.get(rd.root, ())):
            b = match(rd.src, s, {})
            if b is not None:
                new_size = t_size - sizes[id(s)] + rd.dst_base + sum(sizes[id(b[v])] if v in b else 1 for v in rd.dst_occ)
                found.append((rd, p, new_size, b))
        if found:
            groups.append(found)
    return groups


def walk(ch, structure, consts, t0, rdirs, n_steps, max_size, first=None):
    """Random rewrites from t0: -> (terms, steps) with steps [(rule dir, position, binding)].

    A step never revisits a term (so the endpoints differ) nor grows the term past max_size.
    `first`: a (rule dir, position, binding) to apply as the first step.
    """
    terms, steps, seen = [t0], [], {t0}
    for i in range(n_steps):
        t = terms[-1]
        if i == 0 and first is not None:
            choice = first
        else:
            groups = _candidates(t, rdirs)
            fits = lambda c: c[2] <= max_size  # noqa: E731
            choice = None
            while groups and choice is None:
                group = ch.pick_until(groups, lambda g: any(fits(c) for c in g))
                if group is None:
                    break
                choice = ch.pick_until(group, lambda c: fits(c) and _apply(t, c) not in seen)
                if choice is None:
                    groups.remove(group)
            if choice is None:
                break
            choice = choice[0], choice[1], dict(choice[3])
        rd, p, b = choice
        for v in rd.unbound:  # a fresh instance for a variable the old side does not bind
            if v not in b:
                b[v] = random_term(ch, structure, consts, ch.weighted((0, 1), (3, 1)))
        new = replace(t, p, substitute(rd.dst, b))
        terms.append(new)
        seen.add(new)
        steps.append((rd, p, b))
    return terms, steps


def _apply(t, c):
    rd, p, _, b = c
    if rd.unbound:  # instance not chosen yet: the result is new unless a term is revisited later
        return None
    return replace(t, p, substitute(rd.dst, b))


def _rw(rd: RuleDir, backward: bool, b) -> tuple:
    """The tactic tuple for rewriting with rd.rule in direction `backward` (relative to as written)."""
    rule = rd.rule
    backward = backward and not is_symmetric(rule)
    src_vars = set(variables(rule.rhs if backward else rule.lhs))
    dst_vars = variables(rule.lhs if backward else rule.rhs)
    need = [i for i, v in enumerate(rule.order) if v in dst_vars and v not in src_vars]
    args = tuple(b[v] for v in rule.order[: need[-1] + 1]) if need else ()
    return ("rw", rule.name, backward, args)


def walk_proof(ch, terms, steps):
    """Goals and tactics proving terms[0] = terms[-1]: forward, meet in the middle, or via symm."""
    n = len(steps)
    target = terms[-1]
    style = ch.weighted(("forward", "meet", "symm"), (5, 2, 1)) if n >= 2 else "forward"
    k = n if style == "forward" else ch.choice(range(1, n))
    out = []
    for i in range(k):  # left side forward: t_i -> t_{i+1}
        rd, _, b = steps[i]
        out.append((_rw(rd, rd.backward, b), (terms[i + 1], target)))
    if style == "symm":
        out.append((("symm",), (target, terms[k])))
    for j in range(n, k, -1):  # the other side backward: t_j -> t_{j-1}
        rd, _, b = steps[j - 1]
        goal = (terms[j - 1], terms[k]) if style == "symm" else (terms[k], terms[j - 1])
        out.append((_rw(rd, not rd.backward, b), goal))
    return out


# ----------------------------------------------------------------------------- families

def _structure_choice(ch):
    return ch.choice(list(STRUCTURES))


def _consts(ch):
    return CONSTANTS[: ch.weighted((1, 2, 3, 4), (2, 4, 3, 1))]


def gen_walk(ch, index, size_class, family="walk", earlier=None):
    structure = _structure_choice(ch)
    consts = _consts(ch)
    rules = list(_AXIOM_RULES[structure])
    first, hyps = None, []
    if size_class == "long":
        n_steps = ch.choice(range(10, 40))
        n_ops = ch.choice((1, 2, 3))
    elif size_class == "short":
        n_steps = ch.weighted((1, 2, 3), (4, 2, 1))
        n_ops = ch.weighted((0, 1, 2), (1, 4, 1))
    else:
        n_steps = ch.weighted(range(1, 11), (3, 5, 6, 5, 4, 3, 2, 2, 1, 1))
        n_ops = ch.weighted((1, 2, 3, 4), (5, 4, 2, 1))
    max_size = 2 * n_ops + 3 + ch.choice((0, 2) if size_class == "short" else (0, 2, 4))
    t0 = random_term(ch, structure, consts, n_ops)
    if family == "lemma":
        pool = [_fact_rule(f) for f in catalog_lemmas(structure)]
        pool += [r for s, rs in (earlier or {}).items() if axioms_subset(STRUCTURES[s], STRUCTURES[structure])
                 for r in rs[-20:]]
        lemma = ch.choice(pool)
        rd = ch.choice(rule_dirs(lemma))
        inst = {v: random_term(ch, structure, consts, ch.weighted((0, 1), (3, 1))) for v in variables(rd.src)}
        p = ch.choice([p for p, _ in positions(t0)])
        t0 = replace(t0, p, substitute(rd.src, inst))
        first = (rd, p, inst)
        rules.append(lemma)
    rdirs = [rd for r in rules for rd in rule_dirs(r)]
    if family == "hypothesis":
        n_hyps = 1 if size_class == "short" else ch.weighted((1, 2, 3), (6, 3, 1))
        terms, steps = [t0], []
        for h in range(n_hyps):
            t = terms[-1]
            p, sub = ch.choice(positions(t))
            v = random_term(ch, structure, consts, ch.weighted((0, 1, 2), (2, 2, 1)))
            if v == sub:
                continue
            backward = ch.choice((False, True))
            hyp = (v, sub) if backward else (sub, v)
            hyps.append(hyp)
            rule = make_rule(f"h{len(hyps)}", hyp[0], hyp[1], "hyp")
            rd = rule_dirs(rule)[-1 if backward else 0]
            more_terms, more_steps = walk(ch, structure, consts, t, rdirs, 1 + ch.choice(range(max(1, n_steps // n_hyps))),
                                          max_size + size(v), first=(rd, p, {}))
            terms += more_terms[1:]
            steps += more_steps
    else:
        terms, steps = walk(ch, structure, consts, t0, rdirs, n_steps, max_size, first=first)
    proof = walk_proof(ch, terms, steps)
    used = []
    for rd, _, _ in steps:
        if rd.rule not in used:
            used.append(rd.rule)
    premises = _premise_lines([r for r in used if r.kind != "hyp"], structure, hyps)
    name = f"{structure}_{'hyp' if family == 'hypothesis' else family}_{index}"
    concl = (terms[0], terms[-1])
    text = render(name, structure, hyps, concl, premises, proof, rename=True)
    return text, structure, len(proof) + 1, max(size(t) for t in terms), concl, hyps


def gen_catalog(ch, index, size_class):
    facts = {"short": _SHORT_FACTS, "regular": _REGULAR_FACTS, "long": CATALOG_FACTS}[size_class]
    fact = ch.choice(facts)
    base_consts = names(parse_equation(fact.conclusion)[0], [])
    for h in fact.hypotheses + [fact.conclusion]:
        for side in parse_equation(h):
            names(side, base_consts)
    consts = _consts(ch)
    big = _BASE_BYTES[fact] >= 380 or size_class == "short"
    ops, weights = ((0, 1), (3, 1)) if big else ((0, 1, 2), (5, 4, 1))  # big proofs, short class: small terms
    mapping = {}
    for c in sorted(base_consts):
        mapping[c] = random_term(ch, fact.structure, consts, ch.weighted(ops, weights))
    if len(set(mapping.values())) < len(mapping):
        return None
    text = catalog_certificate(fact, f"{fact.name}_{index}", mapping)
    hyps, concl, _, steps = prove_fact(fact)
    sizes = [size(substitute(t, mapping)) for _, g in steps for t in g]
    return text, fact.structure, len(steps) + 1, max(sizes + [1]), None, None


_BASE_BYTES = {f: len(catalog_certificate(f).encode()) for f in CATALOG_FACTS}
_REGULAR_FACTS = [f for f in CATALOG_FACTS if _BASE_BYTES[f] <= MAX_BYTES]  # 53 of 63 fit in 511 bytes
_SHORT_FACTS = [f for f in CATALOG_FACTS if _BASE_BYTES[f] <= SHORT_MAX_BYTES - 5]

FAMILIES = ("catalog", "walk", "lemma", "hypothesis")
_FAMILY_WEIGHTS = (2, 4, 2, 2)
_SHORT_FAMILIES = (("catalog", "walk", "hypothesis"), (2, 4, 2))  # a lemma's extra @P line rarely fits 200 bytes


def generate_corpus(seed=0, n_chars=PLAN_CHARS, progress=False):
    """-> (text, meta): certificates separated by one blank line, ending with '\\n', until the text
    has at least n_chars characters; meta holds one record per certificate (contract schema)."""
    ch = Chooser(seed)
    parts, meta, n = [], [], 0
    earlier = {}  # structure -> [Rule] of emitted theorems without hypotheses (citable lemmas)
    bar = tqdm(total=n_chars, desc="generate", unit="char", unit_scale=True, disable=not progress, mininterval=0.5)
    while n < n_chars:
        index = len(parts) + 1
        while True:
            ch.log2p = []
            size_class = ch.weighted(SIZE_CLASSES, SIZE_CLASS_WEIGHTS)
            family = ch.weighted(*_SHORT_FAMILIES if size_class == "short" else (FAMILIES, _FAMILY_WEIGHTS))
            if family == "catalog":
                out = gen_catalog(ch, index, size_class)
            else:
                out = gen_walk(ch, index, size_class, family, earlier)
            if out is None:
                continue
            text, structure, steps, term_size, concl, hyps = out
            n_bytes = len(text.encode("utf-8"))
            lo, hi = {"short": (0, SHORT_MAX_BYTES), "regular": (0, MAX_BYTES), "long": (MAX_BYTES + 1, LONG_MAX_BYTES)}[size_class]
            if not lo <= n_bytes <= hi or steps < 2 and family != "walk":
                continue  # rejected: the accepted draw's log2p stays an upper bound (see module doc)
            if size_class == "regular" and n_bytes > TAPER_BYTES:  # thin tail: rows cannot be filled behind it
                keep = (MAX_BYTES + 1 - n_bytes) / (MAX_BYTES + 1 - TAPER_BYTES)
                if ch.rng.random() >= keep:
                    continue
                ch.log2p.append(math.log2(keep))
            break
        parts.append(text)
        meta.append({"name": text[3:text.index(" : ")], "structure": structure, "family": family, "steps": steps,
                     "n_bytes": n_bytes, "term_size": term_size, "log2p": ch.log2p})
        if family == "walk" and concl[0] != concl[1]:  # only walks are cited: citation groups stay stars
            earlier.setdefault(structure, []).append(make_rule(meta[-1]["name"], *_pattern_rename(*concl), "lemma"))
        n += len(text) + 2
        bar.update(len(text) + 2)
    bar.close()
    return "\n\n".join(parts) + "\n", meta


def entropy_bound_bpb(meta, n_bytes) -> float:
    """-Σ log2p / n_bytes: bits per byte a perfect model of the generator needs at most.
    ([{'log2p': [-1.0, -3.0]}], 8) -> 0.5"""
    return -sum(sum(m["log2p"]) for m in meta) / max(1, n_bytes)


def write_corpus(path=paths.CORPUS, seed=0, n_chars=PLAN_CHARS, progress=True) -> dict:
    """Generate and write training.txt, training.meta.jsonl, training.manifest.json (atomically)."""
    path = Path(path)
    text, meta = generate_corpus(seed, n_chars, progress)
    data = text.encode("utf-8")
    atomic_write_text(paths.meta_path(path), "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in meta))
    atomic_write_text(path, text)
    manifest = {"generator": "proofgpt", "version": GENERATOR_VERSION, "seed": seed, "chars": n_chars, "sha256": sha256_bytes(data),
                "n_certificates": len(meta), "entropy_bound_bpb": entropy_bound_bpb(meta, len(data))}
    atomic_write_json(paths.manifest_path(path), manifest)
    return manifest


def is_ours(path) -> bool:
    """True if `path` is absent or was written by this generator (its sha256 equals the manifest's)."""
    return corpus_owner(path) != "user"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt data generate", description="Write the seeded synthetic corpus.")
    ap.add_argument("--seed", type=int, default=0, help="random seed (same seed and chars -> same bytes)")
    ap.add_argument("--chars", type=int, default=PLAN_CHARS, help="stop after this many characters (default: %(default)s)")
    ap.add_argument("--out", default=str(paths.CORPUS), help="output corpus path (default data/training.txt)")
    ap.add_argument("--force", action="store_true", help="overwrite a file that this generator did not write")
    args = ap.parse_args(argv)
    if args.chars <= 0:
        raise UserError(f"--chars must be positive, got {args.chars}")
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"{out}: is a directory, expected a file path for the corpus")
    if not args.force and not is_ours(out):
        raise UserError(f"{out}: exists and was not written by this generator (no matching manifest); "
                        "use --force to overwrite it")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise UserError(f"{out}: cannot write there ({blocker} is a file, not a directory)")
    try:  # fail before minutes of generating, and name the path the user gave
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as e:
        raise UserError(f"{out}: cannot write there ({e.strerror.lower() if e.strerror else e})") from None
    t0 = time.perf_counter()
    manifest = write_corpus(out, args.seed, args.chars, progress=sys.stderr.isatty())
    elapsed_s = time.perf_counter() - t0
    print(f"wrote {out}: {manifest['n_certificates']} certificates, {manifest['chars']:,} chars requested, "
          f"{elapsed_s:.1f} s ({args.chars / max(elapsed_s, 1e-9):,.0f} chars/s)")
    print(f"entropy bound: {manifest['entropy_bound_bpb']:.3f} bits/byte")
    return 0
