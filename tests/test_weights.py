"""Weights registry, hub download (against a local stand-in), verify, import and the ``models`` CLI.

No test reaches the real network: an autouse guard refuses every connection and name lookup that is not loopback and
fails the test if one was tried. The registry is swapped for the same entries with tiny, exact sizes.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import socket
import sys

import huggingface_hub
import huggingface_hub.file_download
import huggingface_hub.utils
import pytest
import torch
from huggingface_hub import constants as hf_constants

from tests.hub_standin import COMMIT, HubStandin

try:  # huggingface_hub >= 2 fetches an "agent harness" list from its import-time endpoint when building headers
    from huggingface_hub.utils import _detect_agent
except ImportError:
    _detect_agent = None
from tortoise import hub as hubmod
from tortoise import weights
from tortoise.errors import CheckpointError, InvalidInputError, ModelNotFoundError
from tortoise.models_cli import add_models_command

REAL_CHECKPOINTS = dict(weights.CHECKPOINTS)
LOOPBACK = {"127.0.0.1", "::1", "localhost", None}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Refuse any non-loopback connection or DNS lookup; the test fails if one was attempted."""
    blocked: list[object] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            blocked.append(address)
            raise ConnectionRefusedError(f"test tried to reach the network: {address}")
        return connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            blocked.append(host)
            raise socket.gaierror(f"test tried to resolve {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield blocked
    assert not blocked, f"a test tried to reach the network: {blocked}"


def _state_dict_bytes(cp: weights.Checkpoint, seed: int) -> bytes:
    g = torch.Generator().manual_seed(seed)
    sd = {"layer.weight": torch.randn(40, 50, generator=g), "layer.bias": torch.randn(40, generator=g)}
    obj = {cp.container_key: sd, "steps": torch.tensor(7)} if cp.container_key else sd
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture
def blobs() -> dict[str, bytes]:
    """A small real ``torch.save``d file per checkpoint (a few KB)."""
    return {name: _state_dict_bytes(cp, i) for i, (name, cp) in enumerate(REAL_CHECKPOINTS.items())}


@pytest.fixture
def tiny_registry(monkeypatch, blobs):
    """The real registry entries with the tiny files' exact sizes."""
    tiny = {n: dataclasses.replace(cp, size=len(blobs[n]), size_exact=True) for n, cp in REAL_CHECKPOINTS.items()}
    monkeypatch.setattr(weights, "CHECKPOINTS", tiny)
    return tiny


@pytest.fixture
def env(monkeypatch, tmp_path):
    """Clean environment: models dir and HF cache under tmp, online, small download chunks, no retry sleeps."""
    for var in ("TORTOISE_MODELS_DIR", "XDG_CACHE_HOME", "HF_ENDPOINT", "HF_TOKEN", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # huggingface_hub reads these once, at import: patch the module values too.
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
    monkeypatch.setattr(hf_constants, "DOWNLOAD_CHUNK_SIZE", 1024)  # several chunks per tiny file
    monkeypatch.setattr(huggingface_hub.file_download.time, "sleep", lambda s: None)
    if _detect_agent is not None:
        monkeypatch.setattr(_detect_agent, "_registry", _detect_agent._EMPTY_REGISTRY)
    huggingface_hub.utils.close_session()
    yield tmp_path / "models"
    huggingface_hub.utils.close_session()


@pytest.fixture
def hub(env, monkeypatch, tiny_registry, blobs):
    with HubStandin() as standin:
        for name, cp in tiny_registry.items():
            standin.add(cp.repo_id, cp.repo_path, blobs[name])
        monkeypatch.setenv("HF_ENDPOINT", standin.endpoint)
        yield standin


def _gets(standin: HubStandin) -> list[str]:
    return [path for method, path, _ in standin.log if method == "GET"]


# --- registry and paths ---------------------------------------------------------------------------------------------


def test_registry_entries():
    cps = REAL_CHECKPOINTS
    expected = {"autoregressive", "diffusion_decoder", "clvp2", "cvvp", "vocoder", "rlg_auto", "rlg_diffuser"}
    assert expected | {"classifier", "hifidecoder", "bigvgan_base_24khz_100band"} == set(cps)
    required = {"autoregressive", "diffusion_decoder", "clvp2", "vocoder", "rlg_auto", "rlg_diffuser"}
    assert {n for n, cp in cps.items() if cp.required} == required
    assert all(cp.repo_id == "Manmay/tortoise-tts" for n, cp in cps.items() if not n.startswith("bigvgan"))
    big = cps["bigvgan_base_24khz_100band"]
    assert (big.repo_id, big.repo_path, big.container_key) == (
        "ecker/tortoise-tts-models",
        "models/bigvgan_base_24khz_100band.pth",
        "generator",
    )
    assert cps["vocoder"].container_key == "model_g"
    assert not any("drive.google" in cp.repo_id for cp in cps.values())
    assert weights.lookup("vocoder.pth").name == "vocoder"
    assert weights.lookup("bigvgan_base_24khz_100band_g.pth") is big
    with pytest.raises(InvalidInputError, match=r"unknown checkpoint 'nope'.*autoregressive"):
        weights.lookup("nope")


def test_models_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("TORTOISE_MODELS_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.resolve_models_dir() == tmp_path / "home" / ".cache" / "tortoise" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.resolve_models_dir() == tmp_path / "xdg" / "tortoise" / "models"
    monkeypatch.setenv("TORTOISE_MODELS_DIR", str(tmp_path / "env"))
    assert weights.resolve_models_dir() == tmp_path / "env"
    assert weights.resolve_models_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert not (tmp_path / "env").exists()  # resolving creates nothing


def test_checkpoint_path_missing_says_what_to_do(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"models download autoregressive"):
        weights.checkpoint_path("autoregressive", tmp_path)


# --- download ---------------------------------------------------------------------------------------------------


def test_download_records_and_verifies(hub, env, blobs):
    seen: list[tuple[str, int, int | None]] = []
    paths = weights.download(None, env, progress=lambda *a: seen.append(a))
    required = [cp for cp in weights.CHECKPOINTS.values() if cp.required]
    assert [p.name for p in paths] == [cp.filename for cp in required]
    for cp, path in zip(required, paths):
        assert path.read_bytes() == blobs[cp.name]
    manifest = json.loads((env / weights.MANIFEST).read_text())["files"]
    entry = manifest["autoregressive.pth"]
    assert entry["sha256"] == hub.files[("Manmay/tortoise-tts", "autoregressive.pth")].sha256
    assert entry["size"] == len(blobs["autoregressive"])
    assert COMMIT in entry["source"] and entry["source"].startswith(hub.endpoint)
    last = required[-1].name
    assert seen[-1] == (last, len(blobs[last]), len(blobs[last]))
    assert all(c.ok for c in weights.verify(None, env))
    states = {s.name: s.state for s in weights.status(env)}
    assert states["autoregressive"] == "present" and states["cvvp"] == "missing"
    assert not list((env / weights.PARTIAL_DIR).glob("*.part"))
    n_gets = len(_gets(hub))
    weights.download(None, env)  # recorded files are not fetched again
    assert len(_gets(hub)) == n_gets


def test_mirror_checkpoint_with_folder_in_repo_path(hub, env, blobs):
    (path,) = weights.download(["bigvgan_base_24khz_100band"], env)
    assert path == env / "bigvgan_base_24khz_100band.pth" and path.read_bytes() == blobs["bigvgan_base_24khz_100band"]
    assert any("/ecker/tortoise-tts-models/resolve/main/models/" in p for _, p, _ in hub.log)


def test_dropped_connection_resumes_with_range(hub, env, blobs):
    hub.drop("clvp2.pth", after=4096)
    (path,) = weights.download(["clvp2"], env)
    assert path.read_bytes() == blobs["clvp2"]
    assert "bytes=4096-" in hub.ranges()


def test_cancelled_download_keeps_partial_and_next_run_resumes(hub, env, blobs):
    def cancel(name, done, total):
        if done >= 2048:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        weights.download(["autoregressive"], env, progress=cancel)
    assert not (env / "autoregressive.pth").exists()
    (part,) = (env / weights.PARTIAL_DIR).glob("autoregressive.pth.*.part")
    kept = part.stat().st_size
    assert 2048 <= kept < len(blobs["autoregressive"])
    assert weights.status(env)[0].state == "missing"
    (path,) = weights.download(["autoregressive"], env)
    assert path.read_bytes() == blobs["autoregressive"]
    assert f"bytes={kept}-" in hub.ranges()
    assert not part.exists()


def test_persistent_drop_reports_interruption_and_keeps_partial(hub, env):
    hub.drop("vocoder.pth", after=3072, times=100)  # 3 whole 1 KiB chunks arrive, then the line drops each time
    with pytest.raises(CheckpointError, match=r"vocoder.pth was interrupted after 3,072 of .*again to resume"):
        weights.download(["vocoder"], env)
    assert not (env / "vocoder.pth").exists()
    assert [p.stat().st_size for p in (env / weights.PARTIAL_DIR).glob("vocoder.pth.*.part")] == [3072]
    hub.drop_after.clear()
    weights.download(["vocoder"], env)
    assert "bytes=3072-" in hub.ranges()


def test_corrupt_download_is_refused_and_deleted(hub, env):
    hub.corrupt.add("cvvp.pth")
    with pytest.raises(CheckpointError, match=r"cvvp.pth .* has sha256 .* the hub says .*corrupt download"):
        weights.download(["cvvp"], env)
    assert not (env / "cvvp.pth").exists()
    assert not list((env / weights.PARTIAL_DIR).glob("cvvp.pth.*.part"))
    assert "cvvp.pth" not in weights.read_manifest(env)


def test_short_download_is_refused(hub, env):
    hub.short.add("rlg_auto.pth")
    with pytest.raises(CheckpointError, match=r"rlg_auto.pth .*wrong length"):
        weights.download(["rlg_auto"], env)
    assert not (env / "rlg_auto.pth").exists()
    assert not list((env / weights.PARTIAL_DIR).glob("rlg_auto.pth.*.part"))


def test_missing_on_hub_and_unreachable_hub(hub, env, monkeypatch):
    del hub.files[("Manmay/tortoise-tts", "classifier.pth")]
    with pytest.raises(CheckpointError, match=r"classifier.pth is not on the hub .*404"):
        weights.download(["classifier"], env)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(CheckpointError, match=r"cannot download classifier.pth .*models import FOLDER"):
        weights.download(["classifier"], env)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="offline mode is on"):
        weights.download(["classifier"], env)
    assert not (env / "classifier.pth").exists()


def test_default_endpoint_is_the_real_hub_and_is_blocked_here(env, tiny_registry, no_network):
    with pytest.raises(CheckpointError, match=r"cannot download .*huggingface.co/Manmay/tortoise-tts"):
        weights.download(["rlg_auto"], env)
    assert no_network and all("huggingface.co" in str(b) for b in no_network)
    no_network.clear()  # expected: the guard did its job


def test_hand_copied_file_matching_the_hub_is_kept(hub, env, blobs):
    env.mkdir(parents=True)
    (env / "vocoder.pth").write_bytes(blobs["vocoder"])
    weights.download(["vocoder"], env)
    assert not _gets(hub)  # only the metadata was asked for
    assert weights.read_manifest(env)["vocoder.pth"]["source"].startswith(hub.endpoint)


# --- verify -------------------------------------------------------------------------------------------------------


def test_truncated_file_is_detected_and_redownloaded(hub, env, blobs):
    weights.download(["diffusion_decoder"], env)
    path = env / "diffusion_decoder.pth"
    path.write_bytes(blobs["diffusion_decoder"][:1000])
    (check,) = weights.verify(["diffusion_decoder"], env)
    assert not check.ok
    assert str(path) in check.message() and "truncated" in check.problem
    assert "tortoise-tts models download diffusion_decoder" in check.problem
    assert {s.name: s.state for s in weights.status(env)}["diffusion_decoder"] == "bad"
    with pytest.raises(CheckpointError, match=r"diffusion_decoder.pth is 1,000 bytes, recorded .*models download"):
        weights.checkpoint_path("diffusion_decoder", env)
    weights.download("diffusion_decoder", env)
    assert path.read_bytes() == blobs["diffusion_decoder"]
    assert weights.checkpoint_path("diffusion_decoder.pth", env) == path


def test_corrupt_file_of_right_size_fails_recorded_hash(hub, env, blobs):
    (path,) = weights.download(["clvp2"], env)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    (check,) = weights.verify(["clvp2"], env)
    assert "does not match its recorded sha256" in check.problem and "clvp2.pth" in check.message()


def test_unrecorded_files_are_checked_then_recorded(env, tiny_registry, blobs):
    env.mkdir(parents=True)
    (env / "rlg_auto.pth").write_bytes(blobs["rlg_auto"])
    (env / "rlg_diffuser.pth").write_bytes(b"\0" * len(blobs["rlg_diffuser"]))  # right size, not a checkpoint
    (env / "cvvp.pth").write_bytes(blobs["cvvp"][:-10])
    assert {s.name: s.state for s in weights.status(env)}["rlg_auto"] == "unverified"
    checks = {c.checkpoint.name: c for c in weights.verify(["rlg_auto", "rlg_diffuser", "cvvp"], env)}
    assert checks["rlg_auto"].ok and "now recorded" in checks["rlg_auto"].note
    assert "corrupt or truncated" in checks["rlg_diffuser"].problem
    assert "bytes, expected" in checks["cvvp"].problem
    assert set(weights.read_manifest(env)) == {"rlg_auto.pth"}
    default = {c.checkpoint.name: c.ok for c in weights.verify(None, env)}
    assert default["autoregressive"] is False and default["rlg_auto"] is True and "classifier" not in default


def test_deep_verify_uses_the_loader(hub, env):
    weights.download(["vocoder", "clvp2"], env)

    def loader(cp, path):
        if cp.name == "clvp2":
            raise CheckpointError("2 missing keys")

    checks = {c.checkpoint.name: c for c in weights.verify(["vocoder", "clvp2"], env, deep=True, loader=loader)}
    assert checks["vocoder"].ok and "loads strictly" in checks["vocoder"].note
    assert "does not load into the model: 2 missing keys" in checks["clvp2"].problem


# --- import -------------------------------------------------------------------------------------------------------


def test_import_plain_folder_copy_and_link(env, tiny_registry, blobs, tmp_path):
    src = tmp_path / "usb"
    src.mkdir()
    (src / "autoregressive.pth").write_bytes(blobs["autoregressive"])
    (src / "clvp2.pth").write_bytes(blobs["clvp2"][:500])
    (src / "notes.txt").write_text("hello")
    checks = {c.checkpoint.name: c for c in weights.import_folder(src, env)}
    assert set(checks) == {"autoregressive", "clvp2"}
    assert checks["autoregressive"].ok and "copied" in checks["autoregressive"].note
    assert not checks["clvp2"].ok and "usb/clvp2.pth" in checks["clvp2"].problem
    dest = env / "autoregressive.pth"
    assert dest.read_bytes() == blobs["autoregressive"] and not dest.is_symlink()
    assert weights.read_manifest(env)["autoregressive.pth"]["source"] == f"import:{src / 'autoregressive.pth'}"
    assert not (env / "clvp2.pth").exists()
    other = tmp_path / "linked"
    assert sum(c.ok for c in weights.import_folder(src, other, copy=False)) == 1
    assert os.path.samefile(other / "autoregressive.pth", src / "autoregressive.pth")
    assert all(c.ok for c in weights.verify(["autoregressive"], other))


def test_import_hub_cache_layout(env, tiny_registry, blobs, tmp_path):
    cache = tmp_path / "old_cache"
    for repo, name, rel in (
        ("models--Manmay--tortoise-tts", "vocoder", "vocoder.pth"),
        ("models--ecker--tortoise-tts-models", "bigvgan_base_24khz_100band", "models/bigvgan_base_24khz_100band.pth"),
    ):
        blob = cache / repo / "blobs" / f"{name}-sha"
        blob.parent.mkdir(parents=True)
        blob.write_bytes(blobs[name])
        link = cache / repo / "snapshots" / "abc123" / rel
        link.parent.mkdir(parents=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    checks = weights.import_folder(cache, env)
    assert sorted(c.checkpoint.name for c in checks if c.ok) == ["bigvgan_base_24khz_100band", "vocoder"]
    for name in ("vocoder", "bigvgan_base_24khz_100band"):
        path = env / weights.CHECKPOINTS[name].filename
        assert path.read_bytes() == blobs[name] and not path.is_symlink()
    assert {s.name: s.state for s in weights.status(env)}["vocoder"] == "present"


def test_import_errors(env, tmp_path):
    with pytest.raises(CheckpointError, match="not a folder"):
        weights.import_folder(tmp_path / "nowhere", env)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint files in"):
        weights.import_folder(tmp_path / "empty", env)


# --- the CLI ------------------------------------------------------------------------------------------------------


def _run(capsys, *argv: str, loader=None) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="tortoise-tts")
    add_models_command(parser.add_subparsers(dest="command"), loader=loader)
    args = parser.parse_args(["models", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_end_to_end(hub, env, capsys, blobs, tmp_path):
    d = ["--models-dir", str(env)]
    code, out, _ = _run(capsys, "list", *d)
    assert code == 0 and f"models folder: {env}" in out and "autoregressive" in out and "missing" in out
    code, out, _ = _run(capsys, "download", "-q", *d)
    assert code == 0 and "autoregressive: " in out and "cvvp" not in out
    code, out, _ = _run(capsys, "verify", *d)
    assert code == 0 and "vocoder.pth: ok" in out
    code, out, _ = _run(capsys, "list", *d)
    assert "present" in out

    hub.corrupt.add("cvvp.pth")
    code, out, err = _run(capsys, "download", "-q", "cvvp", "rlg_auto", *d)
    assert code == 1 and "error: download of cvvp.pth" in err and "rlg_auto: " in out  # the next file still came

    code, _, err = _run(capsys, "download", "nope", *d)
    assert code == 1 and "unknown checkpoint 'nope'" in err

    (env / "clvp2.pth").write_bytes(blobs["clvp2"][:100])
    code, out, err = _run(capsys, "verify", *d)
    assert code == 1 and f"error: clvp2.pth ({env / 'clvp2.pth'})" in err and "models download clvp2" in err

    calls = []
    code, out, _ = _run(capsys, "verify", "--deep", "vocoder", *d, loader=lambda cp, p: calls.append(cp.name))
    assert code == 0 and calls == ["vocoder"] and "loads strictly" in out

    src = tmp_path / "usb"
    src.mkdir()
    (src / "classifier.pth").write_bytes(blobs["classifier"])
    code, out, _ = _run(capsys, "import", str(src), *d)
    assert code == 0 and "classifier.pth: ok (copied" in out
    code, _, err = _run(capsys, "import", str(tmp_path / "nowhere"), *d)
    assert code == 1 and err.startswith("error: cannot import")


def test_cli_download_cancel_and_all(hub, env, capsys, monkeypatch):
    d = ["--models-dir", str(env)]

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hubmod, "_fetch", interrupt)
        code, _, err = _run(capsys, "download", "-q", "vocoder", *d)
    assert code == 130 and "run the same command to resume" in err
    assert not (env / "vocoder.pth").exists()
    monkeypatch.setattr(weights, "CHECKPOINTS", {n: weights.CHECKPOINTS[n] for n in ("rlg_auto", "rlg_diffuser")})
    code, out, err = _run(capsys, "download", "--all", *d)  # with progress bars
    assert code == 0 and "rlg_auto: " in out and "rlg_diffuser: " in out and "rlg_diffuser" in err


def test_modules_import_without_the_hub_library():
    """``tortoise.weights`` and the CLI module must not import huggingface_hub at import time."""
    code = "import sys, tortoise.weights, tortoise.models_cli; print('huggingface_hub' in sys.modules)"
    import subprocess

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_every_vocoder_names_a_registered_checkpoint_with_a_loader():
    from tortoise import model_zoo
    from tortoise.vocoders import VOCODERS

    for name, vocoder in VOCODERS.items():
        assert vocoder.checkpoint in weights.CHECKPOINTS, name  # where to download it
        assert vocoder.checkpoint in model_zoo.SPECS and vocoder.checkpoint in model_zoo.TINY_CONFIGS, name
