"""``tortoise-tts project`` as a user runs it, on the tiny models: new from Markdown, render, status, export."""

from __future__ import annotations

import pytest

from tortoise.cli import main
from tortoise.project import ProjectFolder, edit_text

FAST = ["--models-dir", "{models}", "--device", "cpu", "-q"]
QUICK = ["-p", "ultra_fast"]
BOOK = "# Tiny Tales\n\n## The Start\n\nIt begins here. It goes on.\n\n## The End\n\nThe end came.\n"


@pytest.fixture
def run(tiny_models, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORTOISE_VOICES_DIR", str(tmp_path / "user-voices"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)

    def go(*argv: str) -> tuple[int, str, str]:
        code = main([a.replace("{models}", str(tiny_models)) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return go


def quick(folder_path):
    """Tiny-model settings (few samples and steps) in the project, as a user would set them in the app."""
    folder = ProjectFolder.open(folder_path)
    folder.project.defaults.options = {"num_autoregressive_samples": 2, "diffusion_steps": 2, "max_mel_tokens": 24}
    folder.save()
    return folder


def test_new_render_edit_rerender_export(run, tmp_path):
    av = pytest.importorskip("av")
    (tmp_path / "book.md").write_text(BOOK)
    code, out, _ = run("project", "new", "proj", "--from", "book.md", "-v", "train_grace", *QUICK, "--seed", "3",
                       "--no-checks", "--text-split", "10,40")  # fmt: skip
    assert code == 0 and "'Tiny Tales', 2 chapters, 5 segments" in out
    quick(tmp_path / "proj")
    code, out, err = run("project", "render", "proj", "--chapter", "2", *FAST)
    assert code == 0 and "2 segments rendered" in out
    code, out, _ = run("project", "status", "proj")
    assert code == 0 and "3 new" in out and "2 done" in out
    code, out, err = run("project", "render", "proj", *FAST[:-1])  # with progress lines
    assert code == 0 and "3 segments rendered" in out and "[3/3]" in err and "ETA" in err
    folder = ProjectFolder.open(tmp_path / "proj")
    edit_text(folder, folder.project.chapters[0].segments[1].id, "It begins right here.")
    code, out, _ = run("project", "render", "proj", *FAST)
    assert code == 0 and "1 segments rendered" in out
    code, out, _ = run("project", "export", "proj", "--format", "m4b", "-o", "book.m4b")
    assert code == 0 and "LUFS" in out
    with av.open(str(tmp_path / "book.m4b")) as f:
        assert [c["metadata"]["title"] for c in f.chapters()] == ["The Start", "The End"]
        assert f.metadata["title"] == "Tiny Tales" and f.duration > 0
    srt = pytest.importorskip("srt")
    pytest.importorskip("webvtt")
    code, out, _ = run("project", "export", "proj", "--format", "srt", "-o", "book.srt", "--chapter", "2")
    assert [s.content for s in srt.parse((tmp_path / "book.srt").read_text())] == ["The End", "The end came."]


def test_user_errors_are_one_line(run, tmp_path, monkeypatch):
    code, _, err = run("project", "status", "nowhere")
    assert code == 1 and err.count("\n") == 1 and "not a project" in err
    (tmp_path / "book.txt").write_text("Some text.")
    assert run("project", "new", "p", "--from", "book.txt")[0] == 0
    code, _, err = run("project", "export", "p", "--format", "wav", "-o", "x.wav")
    assert code == 1 and "no audio yet" in err
    code, _, err = run("project", "render", "p", "--chapter", "3", *FAST)
    assert code == 1 and "numbered 1 to 1" in err

    from tortoise.errors import ModelNotFoundError
    from tortoise.redaction import Wav2VecAligner

    def missing(self):
        raise ModelNotFoundError("not in the Hugging Face cache")

    monkeypatch.setattr(Wav2VecAligner, "load", missing)
    code, _, err = run("project", "render", "p", *FAST)  # checks are on by default: the recogniser is needed
    assert code == 1 and "models download --redaction" in err and "--no-checks" in err


def test_check_thresholds_are_options_saved_in_the_project(run, tmp_path):
    (tmp_path / "book.txt").write_text("Some text.")
    code, _, err = run("project", "new", "p", "--from", "book.txt", "--max-cer", "3")
    assert code == 1 and err.count("\n") == 1 and "(max_cer) must be from 0 to 1; got 3" in err
    code, _, err = run("project", "new", "p", "--from", "book.txt", "--max-takes", "0")
    assert code == 1 and "(max_takes) must be a whole number from 1 to 10; got 0" in err
    assert not (tmp_path / "p").exists()  # refused before the project was made
    code, _, _ = run("project", "new", "p", "--from", "book.txt", "--max-cer", "0.2", "--no-cut-off-check")
    assert code == 0
    checks = ProjectFolder.open(tmp_path / "p").project.defaults.checks
    assert (checks.max_cer, checks.cut_off, checks.max_rate) == (0.2, False, 22.0)  # the others keep the defaults
    code, out, _ = run("project", "status", "p")
    assert "checks on (CER <= 0.2, 6-22 chars/s, silences <= 1 s; up to 3 takes)" in out
    before = (tmp_path / "p" / "project.json").read_bytes()
    code, _, err = run("project", "render", "p", "--min-rate", "30", *FAST)  # above max_rate 22
    assert code == 1 and "(min_rate, 30 chars/s) must be below the highest (max_rate, 22 chars/s)" in err
    assert (tmp_path / "p" / "project.json").read_bytes() == before  # nothing saved, nothing rendered
    code, out, _ = run("project", "check", "p", "--max-silence", "2.5", "--max-takes", "5")
    assert code == 0 and "nothing to check" in out  # the thresholds are saved all the same
    checks = ProjectFolder.open(tmp_path / "p").project.defaults.checks
    assert (checks.max_silence, checks.max_takes, checks.max_cer) == (2.5, 5, 0.2)
