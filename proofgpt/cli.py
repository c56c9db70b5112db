"""`python -m proofgpt <command>`: one entry point, one module per stage.

Each command lives in its stage's module as `main(argv) -> int` with its own argparse
parser, and is imported only when called (so `proofgpt check` never imports torch).
Bad input (`UserError`, missing files, invalid UTF-8, ...) is printed as one line on
stderr with exit code 2; set PROOFGPT_TRACEBACK=1 to see the traceback instead.

A reader that leaves early (`proofgpt train ... | head -1`) does not stop the work: from the
first broken pipe on, output goes to /dev/null and the command runs to its end, because what
most commands are for is the files they write (checkpoints, a split), and a run cut short at
whatever step the reader left is worse than a finished one. The exit code is then 1, not 0:
not all of the output the command produced was delivered, and `set -o pipefail` scripts
should see that (1, as Python's own notes on SIGPIPE recommend). Errors keep their codes.
"""

import argparse
import importlib
import os
import sys
import warnings

from proofgpt.errors import UserError

# command -> (module:function, one-line help). Order is the pipeline's.
COMMANDS = {
    "data generate": ("proofgpt.generate:main", "write the seeded synthetic corpus (data/training.txt + meta)"),
    "data stats": ("proofgpt.stats:main", "counts, length/step histograms, markers and bytes of a corpus"),
    "data split": ("proofgpt.split:main", "stratified 90/10 split on proof boundaries -> data/train.txt, data/val.txt"),
    "data export-tptp": ("proofgpt.tptp:main", "write each theorem with its premises as a TPTP problem"),
    "data prepare": ("proofgpt.data:prepare_main", "generate (if absent or ours), check, split and pack: what `make data` runs"),
    "check": ("proofgpt.check:main", "check certificates: structurally valid / verified, with line and reason"),
    "baseline": ("proofgpt.baseline:main", "blind best-first rewrite search over a file's theorems: solve rate by proof length"),
    "train": ("proofgpt.train:main", "train a GPT from a profile (configs/*.yaml), with exact --resume"),
    "sample": ("proofgpt.sample:main", "sample from a checkpoint (temperature, top-k, top-p)"),
    "prove": ("proofgpt.search:main", "checker-guided proof search: the model proposes steps, the checker keeps the correct ones"),
    "evaluate": ("proofgpt.evaluate:main", "held-out theorems in two prompt modes beside baselines, with intervals; memorization -> eval.json"),
    "report": ("proofgpt.report:main", "execute the five notebooks with papermill into reports/<profile>/<run>/"),
    "sweep": ("proofgpt.sweep:main", "one run and report per point of a grid of overrides/profiles, then a comparison"),
    "bench": ("proofgpt.bench:main", "speed and memory benchmarks, printed as ratios -> reports/bench/"),
}


def _usage() -> str:
    lines = ["usage: python -m proofgpt <command> [options]   (<command> --help for its options)", "", "commands:"]
    width = max(len(c) for c in COMMANDS)
    lines += [f"  {cmd:<{width}}  {help_}" for cmd, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"proofgpt: warning: {message}\n"


def _usage_error(cmd):
    """argparse's error() for `cmd`: its usage, then the one `proofgpt: error:` line, exit 2."""

    def error(parser, message):
        parser.print_usage(sys.stderr)
        parser.exit(2, f"proofgpt: error: {cmd}: {message} (`python -m proofgpt {cmd} --help` lists the options)\n")

    return error


def _os_error(e: OSError) -> str:
    """One line for an OSError: '/x/afile: exists and is not a directory'."""
    if e.filename is None:
        return str(e)
    what = (e.strerror or str(e)).lower()
    if isinstance(e, FileExistsError) and not os.path.isdir(e.filename):
        what = "exists and is not a directory"
    return f"{e.filename}: {what}"


class _PipeGuard:
    """A text stream that, on its first BrokenPipeError, points its file descriptor at /dev/null
    (so later writes and the interpreter's final flush succeed) and remembers it."""

    def __init__(self, stream):
        self._stream, self.broken = stream, False

    def _discard(self):
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # no file descriptor (a test's capture)
            self._stream = open(os.devnull, "w", encoding="utf-8")

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _resolve(argv):
    """Longest command prefix of argv -> (command, rest)."""
    for n in (2, 1):
        cmd = " ".join(argv[:n])
        if cmd in COMMANDS:
            return cmd, argv[n:]
    return None, argv


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    cmd, rest = _resolve(argv)
    if cmd is None:
        print(f"proofgpt: error: unknown command {' '.join(argv[:2])!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    warnings.formatwarning = _one_line_warning
    target, _ = COMMANDS[cmd]
    module_name, func_name = target.split(":")
    # usage errors (a bad option value) end in the same one line as every other error
    argparse_error, argparse.ArgumentParser.error = argparse.ArgumentParser.error, _usage_error(cmd)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PipeGuard(stdout), _PipeGuard(stderr)
    try:
        rc = _run(module_name, func_name, rest)
        sys.stdout.flush()
        if rc == 0 and (sys.stdout.broken or sys.stderr.broken):
            print("proofgpt: warning: output was cut short (broken pipe); the work itself finished", file=sys.stderr)
            rc = 1
        return rc
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        argparse.ArgumentParser.error = argparse_error


def _run(module_name, func_name, rest) -> int:
    if os.environ.get("PROOFGPT_TRACEBACK"):
        return getattr(importlib.import_module(module_name), func_name)(rest) or 0
    try:
        return getattr(importlib.import_module(module_name), func_name)(rest) or 0
    except UserError as e:
        print(f"proofgpt: error: {e}", file=sys.stderr)
    except UnicodeDecodeError as e:
        print(f"proofgpt: error: invalid UTF-8 at byte offset {e.start}", file=sys.stderr)
    except KeyboardInterrupt:
        print("proofgpt: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # missing file, a directory, not writable, disk full, ...
        print(f"proofgpt: error: {_os_error(e)}", file=sys.stderr)
    return 2
