"""Checking takes already made (``tortoise.project.review``, ``tortoise-tts project check``): the accepted takes get
checks and word timings without being rendered again; failed ones are marked bad, and nothing else changes."""

from __future__ import annotations

import pytest

from tests.test_project_render import Scripted, make
from tests.tiny_wav2vec import tiny_aligner
from tortoise.cli import main
from tortoise.project import ProjectFolder, edit_text, render, set_status
from tortoise.project.checks import CTCTranscriber, normalise
from tortoise.project.review import check_accepted, reviewable

LENIENT = {"max_cer": 1e9, "min_rate": 0.0, "max_rate": 1e9, "max_silence": 1e9, "cut_off": False}


def rendered_without_checks(tmp_path, tts_factory):
    folder = make(tmp_path, **LENIENT)  # checks off; the tiny models' audio passes these thresholds
    render(folder, tts_factory())
    return folder


def files_of(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.path.rglob("*.wav"))}


def test_takes_made_without_checks_get_checks_and_word_timings(tts_factory, tmp_path):
    folder = rendered_without_checks(tmp_path, tts_factory)
    segments = [s for _, _, s in folder.project.segments()]
    assert all(s.accepted.checks == {} for s in segments)
    audio = files_of(folder)
    seen = []
    summary = check_accepted(folder, CTCTranscriber(tiny_aligner()), progress=seen.append)
    assert summary.checked == [s.id for s in segments] and summary.bad == []
    assert [p.done for p in seen] == list(range(1, len(segments) + 1))
    for s in ProjectFolder.open(folder.path).project.segments():  # saved
        checks = s[2].accepted.checks
        assert checks["passed"] and s[2].status == "done"
        assert [w[0] for w in checks["words"]] == normalise(s[2].text).split()
    assert files_of(folder) == audio  # no audio touched, no take added
    assert all(len(s.takes) == 1 for s in segments)


def test_failed_takes_are_marked_bad_and_never_marked_good(tts_factory, tmp_path):
    folder = rendered_without_checks(tmp_path, tts_factory)
    first, second, third = (s for _, _, s in list(folder.project.segments())[:3])
    set_status(folder, first.id, "bad")  # the user's verdict
    edit_text(folder, third.id, "Some other words.")  # its take is of the old text
    assert third.id not in [s.id for s in reviewable(folder)]
    right = Scripted(second.text)  # hears the second segment's text, whatever it is given
    check_accepted(folder, right)
    assert first.status == "bad"  # passed or not, the user's mark stays
    assert second.status == "done" and second.accepted.checks["passed"]
    folder.project.defaults.checks.max_cer = 0.2
    wrong = Scripted("nothing like it at all")
    summary = check_accepted(folder, wrong)
    assert second.id in summary.bad and second.status == "bad"
    assert "CER" in second.accepted.checks["problems"][0]
    assert third.status == "edited" and third.accepted.checks == {}


def test_cli_check_says_what_to_download_and_checks_with_the_recogniser(tts_factory, tmp_path, monkeypatch, capsys):
    from tortoise.errors import ModelNotFoundError
    from tortoise.project import checks
    from tortoise.redaction import Wav2VecAligner

    folder = rendered_without_checks(tmp_path, tts_factory)
    before = (folder.path / "project.json").read_bytes()

    def missing(self):
        raise ModelNotFoundError("not in the Hugging Face cache")

    monkeypatch.setattr(Wav2VecAligner, "load", missing)
    assert main(["project", "check", str(folder.path), "--device", "cpu"]) != 0
    assert "models download --redaction" in capsys.readouterr().err  # at once: nothing is downloaded
    assert (folder.path / "project.json").read_bytes() == before  # nothing changed

    folder.project.defaults.checks.max_cer = 0.2
    folder.save()
    monkeypatch.setattr(checks, "default_transcriber", lambda device=None, **_: Scripted("no match"))
    assert main(["project", "check", str(folder.path), "--device", "cpu", "--chapter", "2"]) == 0
    out, err = capsys.readouterr()
    n = len(folder.project.chapters[1].segments)
    assert f"{n} takes checked" in out and f"{n} bad" in out and f"[{n}/{n}]" in err
    statuses = [s.status for _, _, s in ProjectFolder.open(folder.path).project.segments()]
    assert statuses.count("bad") == n


def test_nothing_to_check_before_a_render(tmp_path, capsys):
    folder = make(tmp_path)
    assert main(["project", "check", str(folder.path)]) == 0
    assert "nothing to check" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["project", "check"])  # the folder is required
