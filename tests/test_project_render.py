"""Long-form projects, rendering and checks: tiny models, seeds, resume, edits, per-segment voices, bad takes."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.tiny_wav2vec import LETTERS, tiny_aligner
from tortoise.audio_io import read_metadata
from tortoise.errors import InvalidInputError, ModelNotFoundError
from tortoise.project import ProjectFolder, edit_text, new_project, set_segment, set_status
from tortoise.project.checks import (
    ChecksUnavailableError,
    CTCTranscriber,
    character_error_rate,
    check_take,
    measure,
    normalise,
)
from tortoise.project.model import CheckSettings
from tortoise.project.render import RETRY_STRIDE, render, select

QUICK = {"num_autoregressive_samples": 2, "diffusion_steps": 2, "max_mel_tokens": 24}
TEXT = "Chapter 1\n\nThe first line. The second line.\n\nChapter 2\n\nThe third line."
LENIENT = {"max_cer": 0.2, "min_rate": 0.0, "max_rate": 1e9, "max_silence": 1e9, "cut_off": False, "max_takes": 3}


class Scripted:
    """A transcriber that hears what it is told: its answers in turn, then the last one forever."""

    def __init__(self, *answers: str):
        self.answers, self.calls = list(answers), 0

    def transcribe(self, audio, sample_rate):
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def make(tmp_path, name="p", *, seed=7, checks=False, text=TEXT, **settings):
    folder = new_project(
        tmp_path / name, text=text, voice="train_grace", preset="ultra_fast", options=QUICK, seed=seed,
        desired_length=10, max_length=40,
    )  # fmt: skip
    folder.project.defaults.checks = CheckSettings(enabled=checks, **settings)
    folder.save()
    return folder


def audio_of(folder, segment):
    return sf.read(str(folder.resolve(segment.accepted.file)), dtype="float32")[0]


def test_render_all_with_explicit_seeds_then_nothing_is_pending(tts_factory, tmp_path):
    folder = make(tmp_path)
    seen = []
    summary = render(folder, tts_factory(), progress=seen.append)
    segments = [s for _, _, s in folder.project.segments()]
    assert summary.rendered == [s.id for s in segments] and not summary.failed
    assert [s.accepted.seed for s in segments] == [7 + i for i in range(len(segments))]
    assert all(s.status == "done" and (folder.path / s.accepted.file).is_file() for s in segments)
    assert [p.done for p in seen] == list(range(1, len(segments) + 1)) and seen[-1].eta == 0
    reopened = ProjectFolder.open(folder.path).project
    assert select(reopened) == [] and reopened.to_dict() == folder.project.to_dict()


def test_cancel_keeps_finished_and_resume_gives_the_same_audio(tts_factory, tmp_path):
    tts = tts_factory()
    whole = make(tmp_path, "whole")
    render(whole, tts)
    parts = make(tmp_path, "parts")
    stop = threading.Event()
    first = render(parts, tts, cancel=stop, progress=lambda p: stop.set())
    assert first.cancelled and len(first.rendered) == 1
    reopened = ProjectFolder.open(parts.path)
    assert [s.status for _, _, s in reopened.project.segments()].count("done") == 1
    render(reopened, tts)
    for (_, _, a), (_, _, b) in zip(whole.project.segments(), reopened.project.segments()):
        np.testing.assert_array_equal(audio_of(whole, a), audio_of(reopened, b))


def test_editing_one_segment_renders_only_it_and_keeps_the_old_take_until_then(tts_factory, tmp_path):
    folder = make(tmp_path, seed=None)
    tts = tts_factory()
    render(folder, tts)
    segments = [s for _, _, s in folder.project.segments()]
    target = segments[2]
    old = target.accepted
    edit_text(folder, target.id, "The second line, edited.")
    assert target.accepted == old and [s.id for _, s in select(folder.project)] == [target.id]
    summary = render(folder, tts)
    assert summary.rendered == [target.id]
    assert [t.text for t in target.takes] == ["The second line.", "The second line, edited."] and target.take == 1
    assert target.takes[1].seed != old.seed  # no explicit seed: a new take is a new draw
    assert all(len(s.takes) == 1 for s in segments if s is not target)


def test_per_segment_voice_and_one_chapter(tts_factory, tmp_path):
    folder = make(tmp_path)
    quote = folder.project.chapters[1].segments[-1]
    set_segment(folder, quote.id, voice="train_dotrice", options={"temperature": 0.5})
    summary = render(folder, tts_factory(), chapter=1)
    assert summary.rendered == [s.id for s in folder.project.chapters[1].segments]
    meta = read_metadata(folder.resolve(quote.accepted.file))
    assert meta["voice"] == "train_dotrice" and meta["options"]["temperature"] == 0.5
    assert all(s.status == "new" for s in folder.project.chapters[0].segments)


def test_a_refused_text_fails_alone(tts_factory, tmp_path):
    folder = make(tmp_path, text="A fine line. [An unclosed bracket. Another fine line.")
    summary = render(folder, tts_factory())
    statuses = {s.text: s.status for _, _, s in folder.project.segments()}
    assert list(summary.failed) == [s.id for _, _, s in folder.project.segments() if s.status == "failed"]
    assert statuses["A fine line."] == "done" and "failed" in statuses.values()


def test_bad_takes_are_made_again_with_new_seeds_and_the_best_kept(tts_factory, tmp_path):
    folder = make(tmp_path, text="Hello there.", checks=True, **LENIENT)
    hears = Scripted("something else entirely", "hello thxxx", "hello there")
    summary = render(folder, tts_factory(), transcriber=hears)
    (segment,) = [s for _, _, s in folder.project.segments()]
    assert hears.calls == 3 and summary.bad == []
    assert [t.seed for t in segment.takes] == [7, 7 + RETRY_STRIDE, 7 + 2 * RETRY_STRIDE]
    assert segment.take == 2 and segment.status == "done" and segment.accepted.checks["cer"] == 0
    assert segment.takes[0].checks["passed"] is False and "CER" in segment.takes[0].checks["problems"][0]


def test_all_takes_bad_keeps_the_least_bad_and_marks_it(tts_factory, tmp_path):
    folder = make(tmp_path, text="Hello there.", checks=True, **{**LENIENT, "max_takes": 2})
    summary = render(folder, tts_factory(), transcriber=Scripted("hello thxxxxxxx", "xxxxxxxxxx"))
    (segment,) = [s for _, _, s in folder.project.segments()]
    assert summary.bad == [segment.id] and segment.status == "bad" and len(segment.takes) == 2
    assert segment.take == 0  # the first take's CER is the lower one
    assert select(folder.project) == [] and [s.id for _, s in select(folder.project, which="bad")] == [segment.id]
    render(folder, tts_factory(), which="bad", transcriber=Scripted("hello there"))
    assert segment.status == "done" and len(segment.takes) == 3 and segment.take == 2


def test_a_render_keeps_the_thresholds_it_started_with(tts_factory, tmp_path):
    folder = make(tmp_path, text="Hello there.\n\nGood night.", checks=True, **{**LENIENT, "max_takes": 1})
    changed = lambda p: setattr(folder.project.defaults, "checks", CheckSettings(**{**LENIENT, "max_takes": 3}))  # noqa: E731
    render(folder, tts_factory(), transcriber=Scripted("xxxxxxxxxx"), progress=changed)  # every take fails
    assert [len(s.takes) for _, _, s in folder.project.segments()] == [1, 1], "the second too: 1 take, as it started"
    render(folder, tts_factory(), which="bad", chapter=0, transcriber=Scripted("xxxxxxxxxx"))
    assert [len(s.takes) for _, _, s in folder.project.segments()] == [4, 4], "the next render: 3 takes each"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"max_cer": 1.01}, "max_cer"), ({"max_cer": float("nan")}, "must be a number"),
        ({"min_rate": -1.0}, "negative"), ({"min_rate": 30.0}, "below the highest"),
        ({"max_silence": 0.0}, "over 0 s"), ({"max_takes": 0}, "from 1 to 10"), ({"max_takes": 11}, "from 1 to 10"),
        ({"max_takes": 2.5}, "whole number"), ({"max_takes": "3"}, "must be a number"),
    ],
)  # fmt: skip
def test_check_settings_verify_refuses_nonsense(change, says):
    CheckSettings().verify()
    CheckSettings(max_cer=0.0, min_rate=0.0, max_rate=1e9, max_silence=1e9, max_takes=10).verify()  # strict or off
    with pytest.raises(InvalidInputError, match=re.escape(says)):
        CheckSettings(**change).verify()


def test_marked_bad_is_rendered_only_when_asked(tts_factory, tmp_path):
    folder = make(tmp_path)
    tts = tts_factory()
    render(folder, tts)
    first = folder.project.chapters[0].segments[0]
    set_status(folder, first.id, "bad")
    assert render(folder, tts).rendered == []
    assert render(folder, tts, which="bad").rendered == [first.id]


def test_checks_without_the_recogniser_say_what_to_download(tts_factory, tmp_path, monkeypatch):
    from tortoise.redaction import Wav2VecAligner

    def missing(self):
        raise ModelNotFoundError("not in the Hugging Face cache")

    monkeypatch.setattr(Wav2VecAligner, "load", missing)
    folder = make(tmp_path, checks=True)
    with pytest.raises(ChecksUnavailableError, match="models download --redaction"):
        render(folder, tts_factory())
    assert all(s.status == "new" for _, _, s in folder.project.segments())  # nothing was rendered
    folder.project.defaults.checks.enabled = False
    assert render(folder, tts_factory()).rendered  # checks off: no recogniser needed


# --- the checks themselves -----------------------------------------------------------------------------------------

SR = 24000


def speech_like(seconds: float, *, fade: bool = True, gap: tuple[float, float] | None = None) -> np.ndarray:
    """A 200 Hz tone modulated like syllables (4 per second), faded in and out unless ``fade`` is False."""
    t = np.arange(int(seconds * SR)) / SR
    wav = 0.3 * np.sin(2 * np.pi * 200 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    if fade:
        ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.2)
        wav *= ramp
    if gap is not None:
        wav[int(gap[0] * SR) : int(gap[1] * SR)] = 0.0
    return wav.astype(np.float32)


def test_measure_finds_speech_silences_and_a_cut_off_end():
    padded = np.concatenate([np.zeros(SR // 2, np.float32), speech_like(2.0), np.zeros(SR // 2, np.float32)])
    speech, silence, cut = measure(padded, SR)
    assert speech == pytest.approx(2.0, abs=0.25) and silence < 0.1 and not cut
    _, silence, _ = measure(speech_like(4.0, gap=(1.5, 3.5)), SR)
    assert silence == pytest.approx(2.0, abs=0.1)
    truncated = speech_like(3.0)[: int(1.5 * SR)]
    assert measure(truncated, SR)[2]


def test_check_take_lists_every_problem():
    settings = CheckSettings(max_cer=0.2, min_rate=5, max_rate=30, max_silence=1.0)
    text = "Hello there, how are you today?"  # 29 characters normalised: ~12 per second over 2.4 s
    good = check_take(speech_like(2.4), SR, text, settings, Scripted("hello there how are you today"))
    assert good.passed and good.cer == 0 and 8 < good.rate < 16
    bad = check_take(speech_like(4.0, gap=(1.0, 3.0))[: int(3.5 * SR)], SR, text, settings, Scripted("hello"))
    assert len(bad.problems) == 3 and bad.score > 3  # CER, the silence, the cut-off end
    assert check_take(np.zeros(SR, np.float32), SR, text, settings).problems == ["no speech"]


def test_normalise_and_character_error_rate():
    assert normalise('He paid $3 [quietly] for "2" apples!') == "he paid three dollars for two apples"
    assert character_error_rate("abcd", "abcd") == 0 and character_error_rate("abcd", "abxd") == 0.25
    assert character_error_rate("abcd", "") == 1 and character_error_rate("ab", "abab") == 1


def test_ctc_transcriber_on_a_tiny_random_wav2vec2():
    aligner = tiny_aligner()
    transcriber = CTCTranscriber(aligner)
    words = transcriber.transcribe(torch.as_tensor(speech_like(1.0)), SR)
    assert set(words) <= set(LETTERS + " ")  # random weights: some letters, never a special token
    emitted = aligner.emissions(torch.as_tensor(speech_like(1.0)), SR).log_probs.argmax(-1).tolist()
    assert len(words.replace(" ", "")) <= sum(1 for i in emitted if i > 1)  # repeats and blanks collapsed
    check = check_take(speech_like(1.0), SR, "Some words.", CheckSettings(), transcriber)
    assert check.transcript == normalise(words) and check.cer >= 0


def test_bracketed_text_without_its_aligner_is_refused_before_any_work(tts_factory, tmp_path):
    from tortoise.redaction import Wav2VecAligner

    text = "Chapter 1\n\nA plain line.\n\nChapter 2\n\nOne more. [whispering] A quiet one."
    folder = make(tmp_path, text=text)
    tts = tts_factory()
    tts.enable_redaction, tts._aligner = True, Wav2VecAligner(cache_dir=tmp_path / "empty-hub")  # not downloaded
    with pytest.raises(ModelNotFoundError, match=r"1 segment\(s\) have \[bracketed\] text \(first: chapter 2, "
                       r"segment \d+: .*models download --redaction.*Nothing was rendered"):  # fmt: skip
        render(folder, tts)
    assert all(s.status == "new" and not s.takes for _, _, s in folder.project.segments())
    tts.enable_redaction = False  # spoken as written: nothing to cut, nothing needed
    assert not render(folder, tts).failed
