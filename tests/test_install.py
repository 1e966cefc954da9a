"""install/: the installer's plan for every device and detection path, its real (faked-pip) run, the launcher,
the desktop entry and the uninstaller. Hardware is faked with stub commands on PATH and directory overrides
(TORTOISE_INSTALL_DRI_DIR, TORTOISE_INSTALL_SYSFS_DRM, TORTOISE_INSTALL_OSRELEASE, TORTOISE_INSTALL_WSL)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "install"
STUBBED = ("nvidia-smi", "lspci", "sycl-ls", "powershell.exe", "wslpath", "ldconfig", "xdg-user-dir", "gio")


def _write_exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class Sandbox:
    """A fake machine: HOME, XDG dirs, /dev/dri, sysfs, os-release and stub tools, all under tmp_path."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path
        self.bin = tmp_path / "bin"
        self.home = tmp_path / "home"
        self.dri = tmp_path / "dev-dri"
        self.drm = tmp_path / "sys-drm"
        self.osrelease = tmp_path / "osrelease"
        for d in (self.bin, self.home, self.dri, self.drm):
            d.mkdir(parents=True, exist_ok=True)
        self.osrelease.write_text("6.8.0-45-generic\n")
        # Tools that a developer's machine may really have are masked: a stub that fails is "not working".
        for name in STUBBED:
            _write_exe(self.bin / name, "exit 127")
        self.env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local/share"),
            "XDG_STATE_HOME": str(self.home / ".local/state"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "TORTOISE_INSTALL_DRI_DIR": str(self.dri),
            "TORTOISE_INSTALL_SYSFS_DRM": str(self.drm),
            "TORTOISE_INSTALL_OSRELEASE": str(self.osrelease),
            "LANG": "C.UTF-8",
        }

    def tool(self, name: str, body: str) -> Path:
        return _write_exe(self.bin / name, body)

    def render_node(self, vendor: str | None = "0x8086", name: str = "renderD128") -> None:
        (self.dri / name).write_text("")
        if vendor:
            d = self.drm / name / "device"
            d.mkdir(parents=True, exist_ok=True)
            (d / "vendor").write_text(vendor + "\n")

    def run(self, script: str, *args: str, env: dict | None = None, timeout: int = 120):
        return subprocess.run(
            ["bash", str(INSTALL / script), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            cwd=self.root,
        )

    def install(self, *args: str, env: dict | None = None, dry_run: bool = True):
        base = ["--venv", str(self.root / "venv"), "--python", sys.executable]
        return self.run("install.sh", *(["--dry-run"] if dry_run else []), *base, *args, env=env)

    def snapshot(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))


@pytest.fixture
def box(tmp_path) -> Sandbox:
    return Sandbox(tmp_path)


def _out(proc) -> str:
    return proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------- shellcheck


def _scripts() -> list[Path]:
    found = sorted(INSTALL.glob("*.sh")) + sorted((REPO / "conda-recipe").glob("*.sh"))
    ci = REPO / ".ci/run"
    return [*found, ci] if ci.exists() else found


def test_every_script_passes_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck; install/test.sh does that as root)")
    scripts = _scripts()
    assert len(scripts) >= 6
    proc = subprocess.run(["shellcheck", "--severity=style", *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scripts_have_valid_bash_syntax():
    for script in _scripts():
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


# --------------------------------------------------------------------------------------------- dry runs


@pytest.mark.parametrize(
    ("device", "index"),
    [
        ("xpu", "https://download.pytorch.org/whl/xpu"),
        ("cuda", "https://download.pytorch.org/whl/cu128"),
        ("cpu", "https://download.pytorch.org/whl/cpu"),
    ],
)
def test_dry_run_for_each_device_prints_plan_and_changes_nothing(box, device, index):
    before = box.snapshot()
    proc = box.install("--device", device)
    out = _out(proc)
    assert proc.returncode == 0, out
    assert f"device:      {device}  (chosen with --device)" in out
    assert f"--index-url {index}" in out
    assert f"-m venv {box.root / 'venv'}" in out
    assert "-e '" + str(REPO) + "[all]'" in out
    assert "tortoise-tts doctor" in out
    assert "Dry run finished; nothing was changed." in out
    assert box.snapshot() == before, "--dry-run must not create or change any file"


def test_dry_run_with_conda_upgrades_libstdcxx_and_only_queries(box):
    log = box.root / "conda.log"
    box.tool("conda", f'echo "$*" >> {log}\nexit 1')  # 'conda run -n tortoise-tts ...' fails: no such env yet
    proc = box.install("--conda", "--device", "xpu")
    out = _out(proc)
    assert proc.returncode == 0, out
    assert "conda environment 'tortoise-tts'" in out and "[will be created]" in out
    assert "create -y -n tortoise-tts -c conda-forge --override-channels python=3.11 pip 'libstdcxx>=14'" in out
    assert "index-url https://download.pytorch.org/whl/xpu" in out
    calls = log.read_text().splitlines()
    assert calls and all(c.startswith("run -n tortoise-tts python -c") for c in calls), calls


def test_existing_conda_env_is_repaired_not_recreated(box):
    prefix = box.root / "envs/tortoise-tts"
    box.tool("conda", f"[[ $1 == run ]] && echo {prefix} && exit 0\nexit 1")
    out = _out(box.install("--conda", "--device", "cpu"))
    assert "[exists: will be checked and repaired]" in out
    assert "install -y -n tortoise-tts -c conda-forge --override-channels 'libstdcxx>=14'" in out
    assert " create " not in out
    assert f"{prefix}/bin/python -m pip install torch" in out


def test_conda_requested_but_missing_is_a_clear_error(box):
    env = {"PATH": f"{box.bin}:/usr/bin:/bin"}
    for tool in ("conda", "mamba", "micromamba"):
        if shutil.which(tool, path=env["PATH"]):
            pytest.skip(f"{tool} is installed system-wide here")
    proc = box.install("--conda", env=env)
    assert proc.returncode == 1
    assert "none of micromamba, mamba or conda" in proc.stderr


# --------------------------------------------------------------------------------------------- detection


def _device_line(proc) -> str:
    return next(line for line in proc.stdout.splitlines() if line.lstrip().startswith("device:"))


def test_no_gpu_means_cpu(box):
    proc = box.install()
    assert proc.returncode == 0, _out(proc)
    assert "device:      cpu  (no supported GPU found" in proc.stdout
    assert "whl/cpu" in proc.stdout


@pytest.mark.parametrize(
    ("cuda", "variant", "warns"), [("12.8", "cu128", False), ("13.0", "cu128", False), ("12.4", "cu126", True)]
)
def test_nvidia_detected_and_cuda_index_follows_driver(box, cuda, variant, warns):
    box.tool(
        "nvidia-smi",
        f'if [[ $1 == --query-gpu=name ]]; then echo "NVIDIA GeForce RTX 4070"; exit 0; fi\n'
        f'echo "| NVIDIA-SMI 570.00   Driver Version: 570.00   CUDA Version: {cuda}     |"',
    )
    proc = box.install()
    assert "device:      cuda  (NVIDIA GPU found by nvidia-smi: NVIDIA GeForce RTX 4070)" in proc.stdout
    assert f"whl/{variant}" in proc.stdout
    assert ("Update the driver" in proc.stdout) is warns


def test_cuda_variant_override(box):
    assert "whl/cu126" in box.install("--device", "cuda", "--cuda-variant", "cu126").stdout


def test_intel_arc_detected_with_lspci(box):
    box.render_node()
    box.tool("lspci", 'echo "03:00.0 VGA compatible controller: Intel Corporation DG2 [Arc A770] (rev 08)"')
    box.tool("ldconfig", 'echo "libc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"')
    proc = box.install()
    assert "device:      xpu  (Intel GPU found by lspci" in proc.stdout
    assert "DG2 [Arc A770]" in _device_line(proc)
    assert "whl/xpu" in proc.stdout
    # No Level Zero driver on the fake machine: the plan says which packages to install.
    assert "libze-intel-gpu1" in proc.stdout


def test_intel_core_ultra_with_compute_runtime_gives_no_driver_note(box):
    box.render_node()
    box.tool("lspci", 'echo "00:02.0 VGA compatible controller: Intel Corporation Meteor Lake-P [Intel Arc Graphics]"')
    box.tool("ldconfig", 'echo "libze_intel_gpu.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libze_intel_gpu.so.1"')
    proc = box.install()
    assert "device:      xpu" in proc.stdout
    assert "libze-intel-gpu1" not in proc.stdout


def test_intel_detected_from_sysfs_vendor_without_lspci(box):
    box.render_node("0x8086")
    proc = box.install()
    assert "device:      xpu  (Intel GPU found by" in proc.stdout
    assert "unknown Intel GPU" in proc.stdout
    assert "doctor' will confirm" in proc.stdout


def test_intel_detected_with_sycl_ls(box):
    box.tool(
        "sycl-ls",
        'echo "[opencl:cpu][opencl:0] Intel(R) OpenCL, Intel(R) Core(TM) Ultra 7 155H OpenCL 3.0"\n'
        'echo "[level_zero:gpu][level_zero:0] Intel(R) oneAPI Unified Runtime over Level-Zero, '
        'Intel(R) Arc(TM) A750 Graphics 12.55.8 [1.6.31294]"',
    )
    proc = box.install()
    assert "device:      xpu  (Intel GPU found by sycl-ls: Intel(R) Arc(TM) A750 Graphics)" in proc.stdout


def test_old_intel_igpu_falls_back_to_cpu_with_hint(box):
    box.render_node()
    box.tool("lspci", 'echo "00:02.0 VGA compatible controller: Intel Corporation UHD Graphics 620 (rev 07)"')
    proc = box.install()
    assert "device:      cpu  (Intel GPU 'Intel Corporation UHD Graphics 620 (rev 07)' is not supported" in proc.stdout
    assert "--device xpu" in proc.stdout


def test_nvidia_preferred_over_intel_with_note(box):
    box.render_node()
    box.tool("lspci", 'echo "00:02.0 VGA compatible controller: Intel Corporation Raptor Lake [Iris Xe]"')
    box.tool("nvidia-smi", 'echo "NVIDIA RTX A2000"')
    proc = box.install()
    assert "device:      cuda" in proc.stdout
    assert "re-run with --device xpu" in proc.stdout


def test_render_node_of_other_vendor_is_not_intel(box):
    box.render_node("0x1002")
    assert "device:      cpu" in box.install().stdout


def test_render_group_note_for_non_root_user(box):
    box.render_node()
    box.tool("lspci", 'echo "03:00.0 VGA compatible controller: Intel Corporation Battlemage G21 [Arc B580]"')
    box.tool(
        "id",
        "[[ $1 == -u ]] && { echo 1000; exit 0; }\n"
        '[[ $1 == -nG ]] && { echo "alice users"; exit 0; }\n/usr/bin/id "$@"',
    )
    proc = box.install()
    assert "device:      xpu" in proc.stdout
    assert "sudo usermod -aG" in proc.stdout


def test_wsl2_intel_via_windows_and_shortcut(box):
    box.osrelease.write_text("5.15.153.1-microsoft-standard-WSL2\n")
    box.tool("powershell.exe", r'printf "Intel(R) Arc(TM) A750 Graphics\r\nMicrosoft Basic Display Adapter\r\n"')
    proc = box.install()
    out = _out(proc)
    assert proc.returncode == 0, out
    assert "system:      Linux x86_64 (WSL2)" in out
    assert "device:      xpu  (Intel GPU found by Windows (powershell.exe): Intel(R) Arc(TM) A750 Graphics)" in out
    assert "Windows desktop shortcut" in out
    assert "graphics driver on Windows" in out


# --------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("uname_s", "message"),
    [("Darwin", "macOS is not supported"), ("MINGW64_NT-10.0", "install WSL2"), ("FreeBSD", "unsupported operating")],
)
def test_unsupported_operating_systems(box, uname_s, message):
    box.tool("uname", f"[[ $1 == -s ]] && echo {uname_s} || echo x86_64")
    proc = box.install()
    assert proc.returncode == 3
    assert message.lower() in proc.stderr.lower()


def test_wsl1_is_refused(box):
    box.osrelease.write_text("4.4.0-19041-Microsoft\n")
    if Path("/dev/dxg").exists():
        pytest.skip("this machine has /dev/dxg")
    proc = box.install()
    assert proc.returncode == 3
    assert "WSL1" in proc.stderr and "wsl --set-version" in proc.stderr


def test_xpu_on_arm_is_refused(box):
    box.tool("uname", "[[ $1 == -s ]] && echo Linux || echo aarch64")
    proc = box.install("--device", "xpu")
    assert proc.returncode == 3
    assert "x86_64 only" in proc.stderr


def test_unsupported_python_is_refused(box):
    old = box.tool("python3.9", "echo 3.9")
    proc = box.run("install.sh", "--dry-run", "--python", str(old), "--venv", str(box.root / "v"))
    assert proc.returncode == 3
    assert "Python 3.9" in proc.stderr and "3.10, 3.11 or 3.12" in proc.stderr


@pytest.mark.parametrize(
    "args", [("--device", "rocm"), ("--bogus",), ("--cuda-variant", "12.1"), ("--python-version", "3.9"), ("--venv",)]
)
def test_bad_options_are_usage_errors(box, args):
    proc = box.install(*args)
    assert proc.returncode == 2, _out(proc)
    assert proc.stderr.startswith("ERROR: ")


def test_help(box):
    proc = box.run("install.sh", "--help")
    assert proc.returncode == 0
    for option in ("--device", "--dry-run", "--conda", "--launch", "--uninstall", "--models"):
        assert option in proc.stdout


def test_oneapi_needs_setvars(box):
    proc = box.install("--device", "xpu", "--oneapi", env={"ONEAPI_ROOT": str(box.root / "none")})
    assert proc.returncode == 1
    assert "oneAPI Base Toolkit" in proc.stderr
    root = box.root / "oneapi"
    _write_exe(root / "setvars.sh", "true")
    proc = box.install("--device", "xpu", "--oneapi", env={"ONEAPI_ROOT": str(root)})
    assert proc.returncode == 0, _out(proc)
    assert f"oneAPI:      source {root}/setvars.sh" in proc.stdout


def test_without_oneapi_setvars_is_not_sourced(box):
    assert "oneAPI:      not needed" in box.install("--device", "xpu").stdout


# --------------------------------------------------------------------------------------------- real runs (fake pip)


def _fake_python(box: Sandbox) -> tuple[Path, Path]:
    """A base Python whose `-m venv` makes an environment whose `-m pip` only logs: the real script logic runs,
    nothing is downloaded. Everything else goes to the real interpreter (which has torch)."""
    log = box.root / "calls.log"
    env_python = _write_exe(
        box.root / "templates/env-python",
        f'echo "python $*" >> {log}\n[[ $1 == -m && $2 == pip ]] && exit 0\n'
        '[[ $* == *probe-torch-index* ]] && exit "${FAKE_TORCH_INDEX_RC:-0}"\n'  # 1: PyTorch's index unreachable
        f'exec {sys.executable} "$@"',
    )
    cli = _write_exe(box.root / "templates/tortoise-tts", f'echo "tortoise-tts $*" >> {log}')
    base = box.tool(
        "fakepython3",
        f'if [[ $1 == -m && $2 == venv ]]; then\n  echo "venv $3" >> {log}\n  mkdir -p "$3/bin"\n'
        f'  cp {env_python} "$3/bin/python"; cp {cli} "$3/bin/tortoise-tts"; : > "$3/bin/activate"\n'
        f'  echo "version = 3.11" > "$3/pyvenv.cfg"; exit 0\nfi\nexec {sys.executable} "$@"',
    )
    return base, log


def test_real_run_creates_env_config_launcher_then_rerun_repairs(box):
    base, log = _fake_python(box)
    venv = box.root / "venv"
    args = ("--venv", str(venv), "--python", str(base), "--device", "cpu")
    proc = box.run("install.sh", *args)
    assert proc.returncode == 0, _out(proc)
    calls = log.read_text()
    assert f"venv {venv}" in calls
    assert "-m pip install torch --index-url https://download.pytorch.org/whl/cpu" in calls
    assert f"-e {REPO}[all]" in calls and " -c " in calls
    assert "tortoise-tts doctor" in calls
    config = (box.home / ".config/tortoise-tts-oneapi/install.env").read_text()
    assert f"TORTOISE_ENV_PREFIX={venv}" in config and "TORTOISE_DEVICE=cpu" in config
    desktop = box.home / ".local/share/applications/tortoise-tts-oneapi.desktop"
    assert desktop.is_file() and str(INSTALL / "launch.sh") in desktop.read_text()
    assert (box.home / ".local/share/icons/hicolor/scalable/apps/tortoise-tts-oneapi.svg").is_file()

    # Second run: the environment is kept; switching device replaces the torch build.
    log.write_text("")
    proc = box.run("install.sh", *args[:-1], "xpu", "--no-doctor")
    assert proc.returncode == 0, _out(proc)
    calls = log.read_text()
    assert "venv " not in calls
    assert "[exists: will be checked and repaired]" in proc.stdout
    assert "-m pip uninstall -y torch" in calls
    assert "--index-url https://download.pytorch.org/whl/xpu" in calls
    assert "tortoise-tts doctor" not in calls


def test_broken_env_is_recreated(box):
    base, log = _fake_python(box)
    venv = box.root / "venv"
    (venv / "bin").mkdir(parents=True)  # no interpreter inside
    proc = box.run("install.sh", "--venv", str(venv), "--python", str(base), "--device", "cpu", "--no-desktop")
    assert proc.returncode == 0, _out(proc)
    assert "[broken: will be recreated]" in proc.stdout
    assert f"venv {venv}" in log.read_text()
    assert not (box.home / ".config/tortoise-tts-oneapi").exists(), "--no-desktop writes no launcher config"


def test_failing_doctor_warns_but_install_succeeds(box):
    base, _ = _fake_python(box)
    venv = box.root / "venv"
    box.run("install.sh", "--venv", str(venv), "--python", str(base), "--device", "cpu", "--no-desktop", "--no-doctor")
    _write_exe(venv / "bin/tortoise-tts", "echo 'no GPU'; exit 4")
    proc = box.run("install.sh", "--venv", str(venv), "--python", str(base), "--device", "cpu", "--no-desktop")
    assert proc.returncode == 0
    assert "doctor' exited with 4" in proc.stderr


@pytest.mark.parametrize(("device", "index"), [("cpu", "cpu"), ("cuda", "cu128")])
def test_unreachable_torch_index_falls_back_to_pypi_torch_and_says_which_build(box, device, index):
    base, log = _fake_python(box)
    args = ("--venv", str(box.root / "venv"), "--python", str(base), "--device", device, "--no-desktop", "--no-doctor")
    proc = box.run("install.sh", *args, env={"FAKE_TORCH_INDEX_RC": "1"})
    assert proc.returncode == 0, _out(proc)
    warning = [line for line in proc.stderr.splitlines() if "cannot be reached" in line]
    assert len(warning) == 1, proc.stderr  # said in one line
    assert warning[0].startswith(
        f"WARNING: PyTorch's wheel index https://download.pytorch.org/whl/{index} cannot be reached; installing torch "
        "from PyPI instead"
    )
    torch_installs = [c for c in log.read_text().splitlines() if "-m pip install torch" in c]
    assert torch_installs == ["python -m pip install torch"], torch_installs  # no --index-url: pip's index (PyPI)
    import torch

    build = f"the CUDA {torch.version.cuda} build" if torch.version.cuda else "the CPU build"
    assert f"Installed from PyPI: torch {torch.__version__} ({build})" in proc.stdout


def test_unreachable_torch_index_stops_an_xpu_install_with_what_to_check_and_the_retry_command(box):
    base, log = _fake_python(box)
    args = ("--venv", str(box.root / "venv"), "--python", str(base), "--device", "xpu", "--no-desktop", "--launch")
    proc = box.run("install.sh", *args, env={"FAKE_TORCH_INDEX_RC": "1"})
    assert proc.returncode == 1
    err = proc.stderr
    assert "ERROR: PyTorch's wheel index https://download.pytorch.org/whl/xpu cannot be reached" in err
    assert "PyPI has no PyTorch build for Intel GPUs" in err and "proxy" in err and "--torch-index URL" in err
    assert f"Then retry:  bash {INSTALL / 'install.sh'} {' '.join(args)}" in err
    assert "-m pip install torch" not in log.read_text()  # nothing half-installed


# --------------------------------------------------------------------------------------------- desktop entry


def test_desktop_entry_install_validate_remove(box):
    desktop_dir = box.home / "Desktop"
    desktop_dir.mkdir()
    proc = box.run("desktop.sh", "install")
    assert proc.returncode == 0, _out(proc)
    entry = box.home / ".local/share/applications/tortoise-tts-oneapi.desktop"
    copy = desktop_dir / "tortoise-tts-oneapi.desktop"
    text = entry.read_text()
    assert copy.read_text() == text and os.access(copy, os.X_OK)
    assert "Terminal=true" in text and "Icon=tortoise-tts-oneapi" in text
    assert f'Exec=/bin/bash "{INSTALL / "launch.sh"}"' in text
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0 and "error" not in check.stdout.lower(), check.stdout
    proc = box.run("desktop.sh", "remove")
    assert proc.returncode == 0
    assert not entry.exists() and not copy.exists()


def test_desktop_entry_quotes_odd_paths(box, tmp_path):
    odd = tmp_path / 'my "tts" $dir'
    shutil.copytree(INSTALL, odd / "install")
    proc = subprocess.run(
        ["bash", str(odd / "install/desktop.sh"), "install"], env=box.env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    text = (box.home / ".local/share/applications/tortoise-tts-oneapi.desktop").read_text()
    assert '\\\\"tts\\\\" \\\\$dir' in text


def test_wsl_windows_shortcut(box):
    win_desktop = box.root / "c/Users/alice/Desktop"
    win_desktop.mkdir(parents=True)
    box.tool("powershell.exe", r'printf "C:\\Users\\alice\\Desktop\r\n"')
    box.tool("wslpath", f"echo {win_desktop}")
    env = {"TORTOISE_INSTALL_WSL": "1", "WSL_DISTRO_NAME": "Ubuntu-24.04"}
    proc = box.run("desktop.sh", "install", env=env)
    assert proc.returncode == 0, _out(proc)
    bat = (win_desktop / "TorToiSe TTS.bat").read_bytes()
    assert b"\r\n" in bat
    assert f'wsl.exe -d "Ubuntu-24.04" -- bash "{INSTALL / "launch.sh"}"'.encode() in bat
    box.run("desktop.sh", "remove", env=env)
    assert not (win_desktop / "TorToiSe TTS.bat").exists()


# --------------------------------------------------------------------------------------------- launcher


def _fake_env(box: Sandbox, app_body: str | None) -> Path:
    prefix = box.root / "env"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin/activate").write_text("export TORTOISE_TEST_ACTIVATED=1\n")
    (prefix / "pyvenv.cfg").write_text("version = 3.11\n")
    if app_body is not None:
        _write_exe(prefix / "bin/tortoise-app", app_body)
    return prefix


def _launch(box: Sandbox, prefix: Path, *args: str):
    opened = box.root / "opened.txt"
    box.tool("xdg-open", f'echo "$1" >> {opened}')
    env = {"TORTOISE_ENV_PREFIX": str(prefix), "TORTOISE_ENV_KIND": "venv", "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    proc = box.run("launch.sh", *args, env=env, timeout=60)
    return proc, (opened.read_text() if opened.exists() else "")


def test_launcher_starts_app_and_opens_browser(box):
    prefix = _fake_env(
        box,
        "[[ $TORTOISE_TEST_ACTIVATED == 1 && $TORTOISE_LAUNCHER == 1 ]] || exit 9\n"
        'echo "args: $*"\necho "* Running on local URL:  http://127.0.0.1:7861"\nsleep 2',
    )
    proc, opened = _launch(box, prefix, "--port", "7861")
    assert proc.returncode == 0, _out(proc)
    assert opened.strip() == "http://127.0.0.1:7861"
    log = (box.home / ".local/state/tortoise-tts-oneapi/app.log").read_text()
    assert "args: --no-browser --port 7861" in log, "the launcher opens the browser, not the app"


def test_launcher_no_browser(box):
    prefix = _fake_env(box, 'echo "Running on local URL:  http://127.0.0.1:7860"; sleep 2')
    proc, opened = _launch(box, prefix, "--no-browser")
    assert proc.returncode == 0
    assert opened == ""
    assert "ready at http://127.0.0.1:7860" in proc.stdout


def test_launcher_explains_missing_install(box):
    proc, _ = _launch(box, box.root / "nowhere")
    assert proc.returncode == 1
    assert "not installed yet" in proc.stderr and "install/install.sh" in proc.stderr


def test_launcher_explains_missing_app_extra(box):
    proc, _ = _launch(box, _fake_env(box, None))
    assert proc.returncode == 1
    assert "'app' extra is missing" in proc.stderr and "--extras app" in proc.stderr


def test_launcher_shows_why_the_app_crashed(box):
    prefix = _fake_env(box, "echo \"ModuleNotFoundError: No module named 'gradio'\" >&2; exit 1")
    proc, opened = _launch(box, prefix)
    assert proc.returncode == 1
    assert "stopped with exit code 1" in proc.stderr
    assert "No module named 'gradio'" in proc.stderr
    assert "tortoise-tts doctor" in proc.stderr
    assert opened == ""


def test_launcher_reads_installer_config(box):
    prefix = _fake_env(box, 'echo "Running on local URL:  http://127.0.0.1:7862"; sleep 2')
    cfg = box.home / ".config/tortoise-tts-oneapi/install.env"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"TORTOISE_ENV_KIND=venv\nTORTOISE_ENV_PREFIX={prefix}\n")
    opened = box.root / "opened.txt"
    box.tool("xdg-open", f'echo "$1" >> {opened}')
    proc = box.run("launch.sh", env={"DISPLAY": ""}, timeout=60)
    assert proc.returncode == 0, _out(proc)
    assert opened.read_text().strip() == "http://127.0.0.1:7862"


# --------------------------------------------------------------------------------------------- uninstall


def _installed(box: Sandbox) -> Path:
    prefix = _fake_env(box, "true")
    cfg = box.home / ".config/tortoise-tts-oneapi/install.env"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"TORTOISE_REPO={REPO}\nTORTOISE_ENV_KIND=venv\nTORTOISE_ENV_PREFIX={prefix}\n")
    assert box.run("desktop.sh", "install").returncode == 0
    return prefix


def test_uninstall_dry_run_then_real(box):
    prefix = _installed(box)
    models = box.home / ".cache/tortoise/models"
    models.mkdir(parents=True)
    before = box.snapshot()
    proc = box.run("uninstall.sh", "--dry-run", "--purge-models")
    assert proc.returncode == 0, _out(proc)
    assert f"virtual environment: {prefix}" in proc.stdout and "model weights" in proc.stdout
    assert box.snapshot() == before

    proc = box.run("uninstall.sh")  # no terminal, no --yes: refuses
    assert proc.returncode == 2 and "--yes" in proc.stderr
    assert prefix.exists()

    proc = box.run("install.sh", "--uninstall", "--yes")  # install.sh forwards
    assert proc.returncode == 0, _out(proc)
    assert not prefix.exists()
    assert models.exists(), "models are kept unless --purge-models"
    assert not (box.home / ".config/tortoise-tts-oneapi").exists()
    assert not (box.home / ".local/share/applications/tortoise-tts-oneapi.desktop").exists()


def test_uninstall_never_deletes_a_folder_that_is_not_a_venv(box):
    prefix = box.root / "important"
    prefix.mkdir()
    (prefix / "data.txt").write_text("keep me")
    cfg = box.home / ".config/tortoise-tts-oneapi/install.env"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"TORTOISE_ENV_KIND=venv\nTORTOISE_ENV_PREFIX={prefix}\n")
    proc = box.run("uninstall.sh", "--yes")
    assert proc.returncode == 0
    assert (prefix / "data.txt").exists()
    assert "does not look like a virtual environment" in proc.stderr


# --------------------------------------------------------------------------------------------- test.sh


def test_test_sh_uses_installer_cpu_path_and_fails_on_no_tests():
    text = (INSTALL / "test.sh").read_text()
    assert "install/install.sh --device cpu --dev" in text
    assert "--torch-spec torch==2.13.0" in text
    assert "rc == 5" in text
    assert "ruff check ." in text and "ruff format --check ." in text
