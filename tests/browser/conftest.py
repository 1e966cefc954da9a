"""Browser tests: the real app (``python launch.py``) in a subprocess, driven by Playwright in headless Chromium.

Chromium is Debian's ``chromium`` package (``/usr/bin/chromium``), never Playwright's download. When it is missing
and we are root with apt, it is installed; the tests skip (saying why) only when it cannot be had. Screenshots go to
``$TORTOISE_SCREENSHOTS`` (default: a pytest temp folder, printed).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def _install_chromium() -> str:
    """Try apt (root only); returns why it failed, or ''."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root or no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "install", "-y", "-qq", "chromium"], ["apt-get", "update", "-qq"]):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return str(e)
        if _chromium():
            return ""
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, text=True, check=False
    )
    return "" if _chromium() else (proc.stderr.strip().splitlines() or ["apt-get failed"])[-1]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed: pip install playwright")
    path = _chromium()
    if path is None:
        why = _install_chromium()
        path = _chromium()
        if path is None:
            pytest.skip(f"Debian's chromium is missing and could not be installed ({why}); apt-get install chromium")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("TORTOISE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app in a subprocess with private config/data/cache folders (``args``: more command-line options)."""

    def __init__(self, home: Path, models: Path, args: Sequence[str] = ()):
        self.home, self.models, self.port = home, models, _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.config = home / "config" / "tortoise-tts" / "settings.json"
        self.voices = home / "data" / "tortoise-tts" / "voices"
        self.outputs = home / "data" / "tortoise-tts" / "outputs"
        self.log = home / "app.log"
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "GRADIO_TEMP_DIR": str(home / "gradio"),
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",  # downloads fail at once, saying why (and no test ever fetches a real model)
        }
        for key in ("TORTOISE_VOICES_DIR", "TORTOISE_MODELS_DIR", "TORTOISE_OUTPUT_DIR", "GRADIO_ANALYTICS_ENABLED"):
            env.pop(key, None)
        for key in ("TORTOISE_API_KEY", "TORTOISE_APP_PASSWORD", "TORTOISE_APP_NO_PASSWORD"):  # the access options
            env.pop(key, None)
        for key in ("HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT"):  # the Hugging Face cache: under XDG_CACHE_HOME
            env.pop(key, None)
        cmd = [sys.executable, str(ROOT / "launch.py"), "--no-browser", "--port", str(self.port)]
        cmd += ["--models-dir", str(models), "--device", "cpu", *args]
        self._log = open(self.log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.3)
        raise TimeoutError(f"the app did not listen on {self.port} in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def running_app(home: Path, models: Path, args: Sequence[str] = ()):
    """The app started in its own process on ``models``, answering; stopped afterwards, whatever happened."""
    srv = Server(home, models, args)
    try:
        srv.wait()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models, chromium_path):
    with running_app(tmp_path_factory.mktemp("app-home"), tiny_models) as srv:
        yield srv


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)  # shared CI machines can be slow; waits end as soon as the page is ready
    pg.goto(server.url)
    pg.wait_for_selector("#gen-go:enabled")  # the page-load handler has filled the form (voices, saved settings)
    yield pg
    context.close()
