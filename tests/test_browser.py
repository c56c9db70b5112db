"""The workbook in a real browser: JupyterLab on localhost driven by headless Debian Chromium.

What a user does: open a notebook in JupyterLab, Run All Cells, move a slider, click a button,
read the output. Papermill and the widget unit tests never render a widget, so only a browser
catches a widget that does not show (missing labextension, broken comm, JS error).

The sampler test (05_sample_analysis.ipynb on a smoke run made by `proofgpt train` in tmp) is
the product check; the two small ones check the harness (widgets render and answer a click; a
failing cell ends the wait with its traceback, not a timeout), so a red sampler test can be told
apart from a broken browser set-up.

Trade-off: one JupyterLab server and one Chromium are shared by the module's tests (starting them
costs ~10 s), and the smoke training runs while they start; each test opens its own page,
workspace and kernel. Measured on the 2-core box under a load average of ~10: sampler test ~60 s
(of which Run All of notebook 05 ~25 s), the module ~85 s.

Chromium is Debian's (/usr/bin/chromium, `make browser` installs it); Playwright never downloads
a browser. The flags are the ones this closed network needs (no background connections).
Screenshots go to test-artifacts/ at the repository root (git-ignored).
Refs: https://playwright.dev/python/docs/api/class-browsertype ,
      https://jupyter-server.readthedocs.io/en/latest/other/full-config.html
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # closed network: no connections to Google
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_S = 60  # JupyterLab answers in ~3-8 s on 2 cores; generous for a loaded CI box
UI_TIMEOUT_MS = 60_000  # default wait for any UI condition (explicit conditions, never sleeps)

if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not installed: run `make browser` (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (dev extras)")


# ---------------------------------------------------------------- JupyterLab server

LAB_SETTINGS = {
    # no news / update checks: they would reach the network and pop up a toast
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # every cell in the DOM, so "all cells have run" can be read off the page
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1, e.g. 43127."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: base url, token, root dir, process, log file."""

    def __init__(self, root_dir: Path, state_dir: Path):
        self.root_dir = root_dir
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = state_dir / "jupyterlab.log"
        settings = state_dir / "settings"
        for plugin, values in LAB_SETTINGS.items():
            f = settings / f"{plugin}.jupyterlab-settings"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(values))
        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(state_dir / "config"),  # no user config leaks in
                   JUPYTER_RUNTIME_DIR=str(state_dir / "runtime"),
                   IPYTHONDIR=str(state_dir / "ipython"),
                   PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
               "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
               "--allow-root",  # CI containers run as root
               "--LabApp.extension_manager=readonly",  # never ask PyPI
               "--ServerApp.terminals_enabled=False",
               f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={root_dir}",
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={state_dir / 'workspaces'}"]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=root_dir, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, n_chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def api(self, path: str, method: str = "GET"):
        """GET /api/<path> with the token -> parsed JSON (urllib; raises on non-2xx)."""
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout_s: float = SERVER_START_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("status")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer in {timeout_s} s:\n{self.log_tail()}")
                time.sleep(0.2)  # polling interval of an explicit condition

    def wait_kernel_connected(self, notebook: str, timeout_s: float = UI_TIMEOUT_MS / 1000) -> None:
        """Wait until the notebook's session has a kernel with a browser websocket attached.

        Before that, JupyterLab's execution indicator shows a premature "idle" (no session yet)
        and a Run All clicked then is lost.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            sessions = [s for s in self.api("sessions") if s["path"] == notebook]
            if sessions and sessions[0]["kernel"].get("connections", 0) >= 1:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"no kernel connected for {notebook} in {timeout_s} s: "
                                   f"{sessions}\n{self.log_tail()}")
            time.sleep(0.2)  # polling interval of an explicit condition

    def stop(self) -> None:
        """SIGTERM (the server shuts its kernels down), then SIGKILL the process group."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory) -> Path:
    """The server's root dir: a tmp folder the tests copy notebooks into (never the repo)."""
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="module")
def lab(lab_root, tmp_path_factory):
    server = Lab(lab_root, tmp_path_factory.mktemp("lab-state"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- Chromium

@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """A headless Debian Chromium with a fresh profile (user-data-dir in tmp)."""
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, lab, request):
    """A new tab; on failure a screenshot test-artifacts/<test>-failed.png is kept."""
    page = browser_context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    n_failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > n_failed_before:  # this test's call phase failed
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failed.png"), full_page=True)
        except Exception:  # the page may be gone; the original failure matters more
            pass
    page.close()
    for session in lab.api("sessions"):  # free the kernel's CPU and memory for the next test
        lab.api(f"sessions/{session['id']}", method="DELETE")


# ---------------------------------------------------------------- JupyterLab UI helpers

def open_notebook(page, lab: Lab, name: str) -> None:
    """Open lab/tree/<name> and wait until its kernel is idle."""
    # a workspace of its own, so the page shows this notebook only (no tabs restored from other tests)
    workspace = re.sub(r"\W", "-", name)
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?token={lab.token}&reset")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for()
    lab.wait_kernel_connected(name)
    idle_kernel(page)


def idle_kernel(page) -> None:
    """Wait for the notebook toolbar's kernel indicator to say idle (kernel started, nothing running)."""
    page.locator('.jp-NotebookPanel:not(.lm-mod-hidden) '
                 '.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()


def run_all_cells(page) -> None:
    """Run menu -> Run All Cells, as a user would."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_all_cells_ran(page, timeout_ms: float = UI_TIMEOUT_MS) -> None:
    """Wait until every code cell of the open notebook shows an execution count, or one failed.

    A failed cell shows its traceback in the page; the test then fails with that text.
    (JupyterLab renders a traceback as stderr, so failure is read off the prompts: none
    running, some run, the rest never reached.)
    """
    state = page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
            .map(e => e.textContent.trim());
        const n_run = prompts.filter(t => /^\\[\\d+\\]:$/.test(t)).length;
        if (prompts.length === 0 || prompts.includes('[*]:')) return false;  // still running
        if (n_run === prompts.length) return 'done';
        return n_run > 0 ? 'stopped' : false;  // Run All stops at a failing cell: the rest stay [ ]
    }""", timeout=timeout_ms).json_value()
    if state == "stopped":
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        last_run = max(i for i in range(cells.count())
                       if re.fullmatch(r"\[\d+\]:", cells.nth(i).locator(".jp-InputArea-prompt").inner_text().strip()))
        out = cells.nth(last_run).locator(".jp-OutputArea").inner_text()
        pytest.fail(f"a notebook cell failed in JupyterLab (code cell {last_run + 1}):\n{out[-3000:]}")


def write_notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


# ---------------------------------------------------------------- the workbook's sampler

NOTEBOOK = "05_sample_analysis.ipynb"
PROBE = """\
# browser test probe: what the kernel sees (re-run after the browser moved the slider)
print(f"probe: temperature={sampler.temperature.value:.2f} theorem={sampler.theorem.value} "
      f"verdict={widgets.verdict_text(sampler.verdict)}")
"""
VERDICT_RE = r"^(verified|structural \(not verified at line .+\)|rejected at line .+)$"  # widgets.verdict_text


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Start a smoke-profile training into tmp with the CLI a user would run (~10-25 s on 2 cores);
    yields wait() -> the finished run dir (also wait.run_dir). Started first, it overlaps JupyterLab's and Chromium's start."""
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    log_path = run_dir.parent / "train.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "proofgpt", "train", "--profile", "smoke",
                                 "--run", str(run_dir), "--no-progress"],
                                stdout=log, stderr=subprocess.STDOUT)

    def wait() -> Path:
        rc = proc.wait(timeout=600)
        log = log_path.read_text(errors="replace")[-3000:]
        assert rc == 0, f"smoke training failed (exit {rc}):\n{log}"
        assert (run_dir / "ckpt" / "last.pt").exists(), log
        return run_dir

    wait.run_dir = run_dir
    try:
        yield wait
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def notebook_with_parameters(src: Path, dst: Path, params: dict, extra_cells=()) -> None:
    """Copy a notebook, adding a cell after its `parameters` cell that sets `params` (as papermill
    does, tagged injected-parameters), and append `extra_cells`."""
    nb = nbformat.read(src, as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    code = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    injected = nbformat.v4.new_code_cell(code, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(i + 1, injected)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in extra_cells]
    nbformat.write(nb, dst)


def test_sample_analysis_sampler_in_jupyterlab(smoke_run, lab, page):
    """05_sample_analysis in JupyterLab on a smoke run: Run All, pick a theorem, move the
    temperature slider, click Generate -> a sample with the checker's verdict; the kernel saw it all."""
    src = ROOT / "notebooks" / NOTEBOOK
    assert src.exists(), f"{src} missing"
    notebook_with_parameters(src, lab.root_dir / NOTEBOOK,
                             {"profile": "smoke", "run_dir": str(smoke_run.run_dir)}, [PROBE])
    open_notebook(page, lab, NOTEBOOK)  # the kernel starts while the training runs
    smoke_run()
    run_all_cells(page)
    wait_all_cells_ran(page, timeout_ms=180_000)  # the notebook samples a sweep and evaluates

    sampler = page.locator(".proofgpt-sampler")
    sampler.scroll_into_view_if_needed()
    output = page.locator(".proofgpt-output")
    verdict = output.locator(".proofgpt-verdict")
    sync_api.expect(verdict).to_have_text(re.compile(VERDICT_RE))  # the notebook's own press
    probe_out = page.locator(".jp-CodeCell").last.locator(".jp-OutputArea-output")
    readout = page.locator(".proofgpt-temperature .widget-readout")
    t_before = readout.inner_text()
    sync_api.expect(probe_out).to_contain_text(f"probe: temperature={t_before} ")

    # another theorem, so the new sample cannot be mistaken for the notebook's own
    picker = page.locator(".proofgpt-theorem select")
    i_theorem = 1 if picker.evaluate("e => e.selectedIndex") == 0 else 0
    label = picker.locator("option").nth(i_theorem).text_content().replace("\xa0", " ")  # ipywidgets: nbsp
    name = label.split(": ", 1)[1]  # "1: walk : a * b = ..." (widgets.Sampler's labels: the @T line; names repeat)
    picker.select_option(index=i_theorem)
    # the keyboard moves the focused noUiSlider handle one step per press
    handle = page.locator(".proofgpt-temperature .noUi-handle")
    handle.focus()
    for _ in range(4):
        handle.press("ArrowLeft")
    sync_api.expect(readout).not_to_have_text(t_before)
    t_after = readout.inner_text()
    assert float(t_after) < float(t_before), (t_before, t_after)

    generate = page.locator("button.proofgpt-generate")
    generate.click()
    sync_api.expect(output).to_contain_text(f"@T {name}")  # sample and ground truth of that theorem
    sync_api.expect(verdict).to_have_text(re.compile(VERDICT_RE))
    sync_api.expect(generate).to_be_enabled()
    shown = verdict.inner_text()

    # re-run the probe cell: the kernel has the slider's value, the theorem and the verdict shown
    page.locator(".jp-CodeCell").last.locator(".cm-content").click()
    page.keyboard.press("Control+Enter")
    sync_api.expect(probe_out).to_have_text(
        f"probe: temperature={t_after} theorem={i_theorem} verdict={shown}")

    # Prove: a theorem typed in, in a structure picked, searched with a progress bar, and the
    # result (a certificate, or the best partial proof) with the checker's verdict
    page.locator(".proofgpt-theorem-text input").fill("a * 1 = a")
    page.locator(".proofgpt-structure select").select_option("monoid")
    prove = page.locator("button.proofgpt-prove")
    prove.click()
    search = output.locator(".proofgpt-search")
    sync_api.expect(search).to_have_text(re.compile(r"^(proved in \d+ steps|no proof within budget) \(.*expansions"))
    sync_api.expect(verdict).to_have_text(re.compile(VERDICT_RE))
    sync_api.expect(output).to_contain_text("@T thm : a * 1 = a")  # the typed theorem, not the picked one
    sync_api.expect(prove).to_be_enabled()
    assert int(re.search(r"(\d+) expansions", search.inner_text()).group(1)) >= 1
    sync_api.expect(page.locator(".proofgpt-progress")).to_be_visible()

    sampler.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-05-sampler.png"))
    assert not page.js_errors, page.js_errors


# ---------------------------------------------------------------- the harness itself

WIDGET_CELL = """\
import ipywidgets as w
slider = w.IntSlider(value=3, min=0, max=10, description="n")
slider.add_class("t-slider")
button = w.Button(description="Go")
button.add_class("t-button")
out = w.Output()
out.add_class("t-output")

def on_click(_):
    with out:
        print(f"clicked with n={slider.value}")

button.on_click(on_click)
w.VBox([slider, button, out])
"""


def test_failing_cell_is_reported(lab, page):
    """The harness itself: a cell that raises fails the wait with the traceback, not a timeout."""
    write_notebook(lab.root_dir / "raises.ipynb", ["x = 1", "raise ValueError('boom from the notebook')", "y = 2"])
    open_notebook(page, lab, "raises.ipynb")
    run_all_cells(page)
    with pytest.raises(pytest.fail.Exception, match="boom from the notebook"):
        wait_all_cells_ran(page)


def test_widgets_render_and_respond_in_jupyterlab(lab, page):
    """Infrastructure check: ipywidgets render in JupyterLab, a slider moves, a click reaches Python."""
    write_notebook(lab.root_dir / "widgets_smoke.ipynb", ["print('kernel', 40 + 2)", WIDGET_CELL])
    open_notebook(page, lab, "widgets_smoke.ipynb")
    run_all_cells(page)
    wait_all_cells_ran(page)
    sync_api.expect(page.locator(".jp-CodeCell").first.locator(".jp-OutputArea-output")).to_have_text("kernel 42")

    handle = page.locator(".t-slider .noUi-handle")
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowRight")
    readout = page.locator(".t-slider .widget-readout")
    sync_api.expect(readout).to_have_text("5")

    page.locator("button.t-button").click()
    sync_api.expect(page.locator(".t-output")).to_contain_text("clicked with n=5")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-widgets-smoke.png"))
    assert not page.js_errors, page.js_errors
