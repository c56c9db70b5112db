"""Export verified theorems as TPTP problems: `python -m proofgpt data export-tptp FILE [--out DIR]`.

One `.p` file per verified certificate, for an external prover (E, Vampire) to confirm:
each `@P` becomes a universally quantified `fof(name, axiom, ...)` (a hypothesis `hi` is an
axiom over the theorem's constants), the theorem's conclusion the `conjecture`:

    % left_cancel (group) from data/training.txt:1
    fof(mul_assoc, axiom, ![X, Y, Z]: mul(mul(X, Y), Z) = mul(X, mul(Y, Z))).
    fof(h1, axiom, mul(a, b) = mul(a, c)).
    fof(left_cancel, conjecture, b = c).

Operators become function symbols: * mul, + add, - neg, ⁻¹ inv, ⊓ inf, ⊔ sup, ᶜ compl, and
1 one, 0 zero, ⊤ top, ⊥ bot; constants stay lower-case TPTP constants (`c_` is prefixed to one
that would clash with a symbol), pattern variables become upper-case variables (x -> X).
Trade-off: only the certificate's own premises are axioms (not the whole structure), so a prover
gets the small problem the proof needs; a theorem is then provable iff the certificate's proof
(or another one from the same premises) exists. No prover runs here.
"""

import argparse
import re
from pathlib import Path

from proofgpt.certificate import read_corpus
from proofgpt.check import _read, check_corpus
from proofgpt.terms import App, Var, parse_equation, to_pattern, variables

FUNCTIONS = {"*": "mul", "+": "add", "-": "neg", "⁻¹": "inv", "⊓": "inf", "⊔": "sup", "ᶜ": "compl"}
SYMBOLS = {"1": "one", "0": "zero", "⊤": "top", "⊥": "bot"}
_RESERVED = set(FUNCTIONS.values()) | set(SYMBOLS.values())


def tptp_name(name: str) -> str:
    """A TPTP lower_word for a theorem or premise name: "Foo.bar'" -> "p_Foo_bar_"."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if re.match(r"[a-z]", s) else "p_" + s


def tptp_term(t) -> str:
    """a * x⁻¹ (x a pattern variable) -> 'mul(a, inv(X))'."""
    if type(t) is App:
        return f"{FUNCTIONS[t.op]}({', '.join(tptp_term(a) for a in t.args)})"
    if t.name in SYMBOLS:
        return SYMBOLS[t.name]
    if type(t) is Var:
        return t.name[0].upper() + t.name[1:]
    return "c_" + t.name if t.name in _RESERVED else t.name


def _formula(lhs, rhs):
    vs = variables(rhs, variables(lhs))
    body = f"{tptp_term(lhs)} = {tptp_term(rhs)}"
    if not vs:
        return body
    return f"![{', '.join(v[0].upper() + v[1:] for v in vs)}]: {body}"


def certificate_to_tptp(text: str, source: str = "") -> str:
    """The TPTP problem of one (structurally valid) certificate's theorem and premises."""
    lines = [(i, s.strip()) for i, s in enumerate(text.split("\n")) if s.strip()]
    _, _, name, eqs, structure, _, constants, premises, _, _ = _read(lines)
    out = [f"% {name} ({structure})" + (f" from {source}" if source else "")]
    used = set()
    for _, pname, stmt, _ in premises:
        lhs, rhs = parse_equation(stmt)
        fname = tptp_name(pname)
        while fname in used:
            fname += "_"
        used.add(fname)
        out.append(f"fof({fname}, axiom, {_formula(to_pattern(lhs, constants), to_pattern(rhs, constants))}).")
    lhs, rhs, _ = eqs[-1]
    goal = tptp_name(name)
    while goal in used:
        goal += "_goal"
    out.append(f"fof({goal}, conjecture, {tptp_term(lhs)} = {tptp_term(rhs)}).")
    return "\n".join(out) + "\n"


def export_tptp(path, out_dir) -> int:
    """Write one .p file per verified certificate of `path` into out_dir; returns how many."""
    blocks = read_corpus(path)
    report = check_corpus(blocks)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    taken, n = set(), 0
    for b, v in zip(blocks, report.verdicts):
        if not v.verified:
            continue
        stem = tptp_name(v.name or "theorem")
        fname, k = stem, 1
        while fname in taken:
            k += 1
            fname = f"{stem}_{k}"
        taken.add(fname)
        # plain writes: ~11k derived files, an fsync each (atomic_write_text) took a minute here
        (out_dir / f"{fname}.p").write_text(certificate_to_tptp(b.text, f"{path}:{b.line}"), encoding="utf-8")
        n += 1
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="proofgpt data export-tptp",
                                 description="Write each verified theorem with its premises as a TPTP problem.")
    ap.add_argument("file", help="a certificate corpus (e.g. data/training.txt)")
    ap.add_argument("--out", default=None, help="output directory (default: <file stem>_tptp next to the file)")
    args = ap.parse_args(argv)
    path = Path(args.file)
    out_dir = Path(args.out) if args.out else path.with_name(path.stem + "_tptp")
    n = export_tptp(path, out_dir)
    print(f"wrote {n} TPTP problems to {out_dir}/")
    return 0
