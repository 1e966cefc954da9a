"""Generate tab handlers on the tiny random-weight models: text -> audio through the real pipeline, history,
cancel, regenerate, missing models, and the widget -> options mapping."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import soundfile as sf

pytest.importorskip("gradio")

from tortoise.audio_io import read_metadata
from tortoise.errors import InvalidInputError, TortoiseError
from tortoise.text import split_text
from ui import export, generate, live
from ui.engine import Engine, Job
from ui.history import CANCELLED, DONE

LONG = (
    "The first sentence of this text is long enough to need a segment of its own, because it keeps going on and on "
    "about nothing much at all, well past the split length. "
    "The second sentence is also quite long and it too goes on for a while so that the splitter puts it apart from "
    "the first one, which is what we want to see here."
)


@pytest.fixture
def engine(app_engine):
    return app_engine


def quick(**changes) -> dict:
    values = {"text": "Hello there. This is a test.", "voices": ["train_grace"], "preset": "ultra_fast", "seed": 1}
    values.update(generate.preset_values("ultra_fast"), samples=2, steps=3, candidates=1)
    values.update(changes)
    return values


def final(engine, values, last=None, session="tab"):
    updates = list(generate.stream(engine, values, last, session, poll=0.05))
    assert all("status" in u for u in updates)
    return updates[-1]


def test_text_to_audio_with_history_and_metadata(engine):
    out = final(engine, quick(candidates=2))
    combined = Path(out["combined"])
    data, sr = sf.read(combined)
    assert sr == 24000 and data.size > 0 and abs(data).max() > 0
    labels = [label for label, path in out["players"] if path]
    assert labels == ["Candidate 1", "Candidate 2"]
    assert {Path(p).name for p in out["files"]} >= {"01.wav", "01_c2.wav", "combined.wav", "segments.json"}
    assert "real-time factor" in out["timings"] and "Autoregressive" in out["timings"]
    meta = read_metadata(combined.parent / "01.wav")
    assert meta["text"] == "Hello there. This is a test." and meta["voice"] == "train_grace"
    assert meta["options"]["num_autoregressive_samples"] == 2 and meta["options"]["diffusion_steps"] == 3
    (entry,) = engine.history().entries()
    assert entry.status == DONE and entry.voice == "train_grace" and entry.preset == "ultra_fast"
    assert entry.rtf is not None and entry.rtf > 0 and set(entry.timings) >= {"autoregressive", "diffusion", "vocoder"}
    assert out["last"] == {"folder": entry.folder, "text": entry.text, "voice": "train_grace", "seed": 1}
    # reusing the entry's settings gives the very same options
    reused = generate.reuse_values(entry.text, entry.voice, entry.preset, entry.options, entry.seed)
    assert generate.make_options({**quick(), **reused}) == generate.make_options(quick(candidates=2))


def test_same_seed_same_audio(engine):
    a = sf.read(final(engine, quick())["combined"])[0]
    b = sf.read(final(engine, quick())["combined"])[0]
    assert a.shape == b.shape and (a == b).all()


def test_long_text_segments_then_regenerate_one(engine):
    out = final(engine, quick(text=LONG, voices=["train_grace", "train_daws"]))
    folder = Path(out["last"]["folder"])
    assert [label for label, p in out["players"] if p] == ["Segment 1", "Segment 2"]
    assert (folder / "combined.wav").is_file() and out["last"]["voice"] == "train_grace&train_daws"
    first = (folder / "01.wav").stat().st_mtime_ns
    second = sf.read(folder / "02.wav")[0]
    again = final(engine, quick(text=LONG, voices=["train_grace", "train_daws"], regenerate="2"), last=out["last"])
    assert Path(again["last"]["folder"]) == folder
    assert (folder / "01.wav").stat().st_mtime_ns == first, "segment 1 was reused, not redone"
    redone = sf.read(folder / "02.wav")[0]
    assert redone.shape == second.shape and abs(redone - second).max() < 1e-3, "the same seed: the same segment"
    assert len(engine.history().entries()) == 1, "regenerating updates its generation's entry"


def test_regenerate_needs_the_same_text(engine):
    out = final(engine, quick())
    import gradio as gr

    with pytest.raises(gr.Error, match="changed"):
        final(engine, quick(text="Other words.", regenerate="1"), last=out["last"])
    with pytest.raises(gr.Error, match="generate once"):
        final(engine, quick(regenerate="1"), last=None)


def test_cancel_keeps_finished_segments(engine):
    job = Job()
    step = job.on_segment

    def on_segment(index, count, text):
        if index == 1:
            job.cancel.set()  # as if Cancel was pressed while segment 1 was being made
        step(index, count, text)

    job.on_segment = on_segment
    req = generate.make_request(quick(text=LONG))
    out = generate.run(engine, req, job)
    assert out.status == CANCELLED and out.done == 1
    folder = Path(out.entry.folder)
    assert (folder / "01.wav").is_file() and not (folder / "02.wav").exists() and not (folder / "combined.wav").exists()
    (entry,) = engine.history().entries()
    assert entry.status == CANCELLED and len(entry.files) == 1


def test_cancel_before_anything_leaves_nothing(engine):
    job = Job()
    job.cancel.set()
    out = generate.run(engine, generate.make_request(quick()), job)
    assert out.status == CANCELLED and out.done == 0
    assert not Path(out.entry.folder).exists() and engine.history().entries() == []


def test_cancel_reaches_a_generation_still_waiting_in_the_queue(engine):
    queued = engine.submit("tab")  # the Generate click; its generation waits for the device
    assert generate.cancel(engine, "tab", wait=0) and queued.cancel.is_set()
    out = final(engine, quick())  # its turn comes: it ends at once, nothing made or recorded
    assert "Cancelled before any segment was finished" in out["status"]
    assert engine.history().entries() == [] and queued.finished.is_set()


def test_a_submitted_job_is_the_one_its_generation_runs(engine):
    first = engine.submit("tab")
    assert engine.begin("tab") is first and first.taken
    engine.end("tab", first)
    second = engine.submit("tab")
    assert second is not first and engine.begin("tab") is second
    assert engine.begin("api") is not engine.begin("api-2")  # API calls without a click get their own jobs


def test_a_second_generate_in_a_tab_never_cancels_the_first(engine):
    """Generate clicked again while the tab's job waits or runs: refused, and the first job finishes and is kept
    (it used to be cancelled: "Cancelled before any segment was finished; nothing was kept")."""
    import gradio as gr

    first = engine.submit("tab")
    assert engine.submit("tab") is None, "a second click while the first waits in the queue"
    updates = generate.stream(engine, quick(), None, "tab", poll=0.05)
    assert "status" in next(updates)  # the first generation has started and runs its job
    assert engine.submit("tab") is None and engine.begin("tab") is None, "a second click while it runs"
    with pytest.raises(gr.Error, match="already generating"):
        final(engine, quick(text="Another text."))  # a second generation (API) for the same tab
    assert not first.cancel.is_set()
    out = list(updates)[-1]
    assert out["combined"] and "Cancelled" not in out["status"]
    (entry,) = engine.history().entries()
    assert entry.status == DONE and entry.text == "Hello there. This is a test."
    assert engine.submit("tab") is not None, "once it has ended, Generate works again"


def test_cancel_button_reports(engine):
    assert "Nothing is running" in generate.cancel(engine, "nobody", wait=0)
    job = engine.begin("tab")
    assert "Cancelling" in generate.cancel(engine, "tab", wait=0) and job.cancel.is_set()


def test_missing_models_are_explained(tmp_path, engine):
    import gradio as gr

    from ui import settings_tab

    empty = Engine(dataclasses.replace(engine.settings, models_dir=str(tmp_path / "no-models")))
    banner = settings_tab.missing_banner(empty)
    assert "autoregressive.pth" in banner and "Download" in banner
    with pytest.raises(gr.Error, match="missing"):
        final(empty, quick())
    assert empty.history().entries() == []


def test_unknown_voice_and_empty_text_are_errors(engine):
    import gradio as gr

    with pytest.raises(gr.Error, match="unknown voice"):
        final(engine, quick(voices=["nobody_here"]))
    with pytest.raises(gr.Error, match="text"):
        final(engine, quick(text="   "))
    assert engine.history().entries() == [] and not list(engine.settings.resolved_output_dir().glob("*/"))


def test_widgets_to_options():
    o = generate.make_options(quick(seed=-1, temperature=0.5, sampler="ddim", vocoder="univnet"))
    assert o.seed is None and o.temperature == 0.5 and o.sampler == "ddim" and o.num_autoregressive_samples == 2
    assert generate.make_options(quick(seed=7.0)).seed == 7
    assert generate.make_options(quick(voicefixer=True)).voicefixer is True
    assert generate.make_options(quick(preset="fast_mode")).mode == "fast"
    with pytest.raises(InvalidInputError, match="diffusion_steps"):
        generate.make_options(quick(steps=1))
    with pytest.raises(InvalidInputError, match="whole number"):
        generate.make_options(quick(steps=2.5))
    with pytest.raises(InvalidInputError, match="seed"):
        generate.make_options(quick(seed=-5))
    assert generate.voice_spec(["a", " b "]) == "a&b" and generate.voice_spec("x") == "x"
    assert generate.preset_values("standard")["samples"] == 256


def test_text_info_counts_and_splits():
    assert generate.text_info("") == "Nothing typed yet."
    assert generate.text_info("Hi.").startswith("3 characters, 1 segment")
    info = generate.text_info(LONG)
    assert f"{len(LONG)} characters, 2 segments" in info and "1. The first" in info and "2. The second" in info


def test_history_rebuilds_from_folders_and_reuses_file_settings(engine):
    out = final(engine, quick())
    history = engine.history()
    history.index.unlink()
    (entry,) = history.entries()
    assert entry.text == "Hello there. This is a test." and entry.seed == 1 and entry.options["diffusion_steps"] == 3
    assert json.loads(history.index.read_text())["entries"][0]["id"] == entry.id

    from ui.history import details_markdown, reuse_from_file

    assert "Hello there" in details_markdown(entry)
    values = reuse_from_file(str(Path(out["last"]["folder"]) / "01.wav"))
    assert values["voice"] == "train_grace" and values["options"]["diffusion_steps"] == 3
    combined = reuse_from_file(out["combined"])  # the whole job's settings, with its seed (segment i used seed + i)
    assert combined["text"] == "Hello there. This is a test." and combined["options"]["diffusion_steps"] == 3
    assert combined["seed"] == 1


def test_fast_mode_streams_chunks_for_the_live_player(engine):
    chunks = list(live.stream_fast(engine, quick(), chunk_tokens=8, first_chunk_tokens=8))
    assert chunks and all(sr == 24000 and data.ndim == 1 for sr, data in chunks)
    assert sum(data.size for _, data in chunks) > 0
    with pytest.raises(InvalidInputError, match="type some text"):
        list(live.stream_fast(engine, quick(text="  ")))


def test_warm_up_in_background_loads_the_models(engine):
    thread = engine.warm_up_in_background()
    assert thread is not None
    thread.join(timeout=120)
    assert not thread.is_alive()
    out = final(engine, quick())  # a job after the warm-up still works
    assert Path(out["combined"]).is_file()


@pytest.fixture
def no_aligner(tmp_path, monkeypatch):
    """An empty Hugging Face cache: the redaction aligner is not downloaded."""
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))


def test_brackets_without_the_aligner_stop_before_any_work(engine, no_aligner):
    """[bracketed] text and no redaction model: the choice is offered before anything runs (it used to fail after
    every stage had run, losing the work)."""
    pytest.importorskip("transformers")
    (update,) = generate.stream(engine, quick(text="[whispering] Hello there."), None, "tab", poll=0.05)
    message, can_download = update["redaction"]
    assert can_download and "not downloaded" in message and "Not started" in update["status"]
    assert engine._tts is None and engine.history().entries() == [], "no model loaded, nothing recorded"
    assert engine.submit("tab") is not None, "the tab's job has ended"
    with pytest.raises(TortoiseError, match="not downloaded"):
        list(live.stream_fast(engine, quick(text="[whispering] Hello there.")))


def test_speaking_the_brackets_needs_no_aligner(engine, no_aligner):
    out = final(engine, quick(text="[whispering] Hello there.", redact=False))
    assert out["combined"] and "redaction" not in out
    assert read_metadata(out["combined"])["engine"]["redaction"] is False, "the job spoke the brackets"
    assert engine._tts.enable_redaction is True, "the shared pipeline is back at the default (API requests use it)"
    assert generate.redaction_problem("No brackets here.") is None
    assert generate.redaction_problem("[quietly] Hi.", redact=False) is None


def test_bad_brackets_are_refused_before_any_work(engine):
    import gradio as gr

    with pytest.raises(InvalidInputError, match="unclosed"):
        generate.make_request(quick(text="Hello [there."))
    assert generate.make_request(quick(text="Hello [there.", redact=False)).redact is False
    with pytest.raises(gr.Error, match="unmatched"):
        final(engine, quick(text="Hello] there."))
    assert engine._tts is None


def test_without_transformers_only_speaking_the_brackets_is_offered(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "transformers" else real(name))
    message, can_download = generate.redaction_problem("[sadly] It rained.")
    assert not can_download and "pip install" in message


def test_aligner_download_failure_says_why(monkeypatch, no_aligner):
    import huggingface_hub

    from tortoise.errors import ModelNotFoundError

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("cannot reach the hub")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ModelNotFoundError, match="cannot reach the hub"):
        generate.download_aligner()


def test_the_splitter_setting_decides_the_segments(engine):
    # the original never ends a segment inside double quotes; ours ends at the first sentence end past 200 characters
    quoted = '"' + " ".join(f"Sentence number {i} is here." for i in range(12)) + '" Then the narrator speaks.'
    ours, original = split_text(quoted), split_text(quoted, splitter="original")
    assert ours[1].startswith("Sentence number 8") and original[1].startswith("Sentence number 11")
    assert "2. Sentence number 8 " in generate.text_info(quoted)
    assert "2. Sentence number 11 " in generate.text_info(quoted, "original")
    engine.apply(dataclasses.replace(engine.settings, splitter="original"))
    out = final(engine, quick(text=quoted, steps=2, samples=1))
    plan = json.loads((Path(out["combined"]).parent / "segments.json").read_text())
    assert plan["segments"] == original


def test_download_format_and_speed_beside_combined_wav(engine):
    """mp3 at 1.5x, as the CLI's -O --format mp3 --speed 1.5: beside the float combined.wav, with the settings."""
    from tests.test_cli_output import decoded

    out = final(engine, quick(text=LONG, format="mp3", speed=1.5))
    made = Path(out["combined"])
    folder = made.parent
    assert made.name == "combined_1.5x.mp3" and str(made) in out["files"]
    plain = sf.info(str(folder / "combined.wav"))
    assert plain.subtype == "FLOAT", "combined.wav stays the model's float samples at speed 1"
    rate, seconds, tags = decoded(made)
    assert rate == 24000 and seconds == pytest.approx(plain.duration / 1.5, rel=0.03, abs=0.06)  # + mp3 padding
    assert tags["title"] == LONG[:197] + "..." and tags["artist"] == "train_grace" and '"seed": 1' in tags["comment"]
    (entry,) = engine.history().entries()
    assert entry.combined == str(folder / "combined.wav"), "the history keeps the generation's own file"
    # regenerating a segment remakes the converted file from the new combined.wav
    before = made.stat().st_mtime_ns
    again = final(engine, quick(text=LONG, format="mp3", speed=1.5, regenerate="2"), last=out["last"])
    assert again["combined"] == str(made) and made.stat().st_mtime_ns != before
    wav = final(engine, quick(format="wav", speed=1.0))
    combined = Path(wav["combined"])
    assert combined.name == "combined.wav" and len(list(combined.parent.glob("combined*"))) == 1, "wav, 1x: no copy"


def test_speed_without_pedalboard_is_refused_before_any_work(engine, monkeypatch):
    import gradio as gr

    monkeypatch.setattr(export, "stretch_available", lambda: False)
    with pytest.raises(gr.Error, match=r"tortoise-tts-oneapi\[speed\]"):
        final(engine, quick(speed=1.5))
    with pytest.raises(InvalidInputError, match=r"tortoise-tts-oneapi\[speed\]"):
        list(live.stream_fast(engine, quick(speed=0.5)))
    assert engine._tts is None and engine.history().entries() == [], "nothing loaded, nothing made"
    assert final(engine, quick(speed=1.0, format="flac"))["combined"].endswith("combined.flac"), "rate 1 needs none"


def test_bad_format_or_speed_is_refused():
    with pytest.raises(InvalidInputError, match="download format"):
        generate.make_request(quick(format="ogg"))
    with pytest.raises(InvalidInputError, match="speed"):
        generate.make_request(quick(speed=5))


def test_a_failed_conversion_keeps_the_generation(engine, monkeypatch):
    import gradio as gr

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export, "finish", broken)
    with pytest.raises(gr.Error, match=r"saved in .* but making the opus file failed: disk full"):
        final(engine, quick(format="opus"))
    (entry,) = engine.history().entries()
    assert entry.status == DONE and Path(entry.combined).is_file()


def test_live_stream_at_a_speed(engine):
    plain = sum(d.size for _, d in live.stream_fast(engine, quick(), chunk_tokens=8, first_chunk_tokens=8))
    fast = sum(d.size for _, d in live.stream_fast(engine, quick(speed=2.0), chunk_tokens=8, first_chunk_tokens=8))
    assert fast == pytest.approx(plain / 2, rel=0.05)


def test_a_generation_waits_for_an_api_turn_and_can_be_cancelled_there(engine):
    """The mounted API takes ``engine.queue.turn()`` (``SpeechEngine.run``); a generation queues behind it, is shown
    as waiting, and Cancel reaches it there."""
    import threading
    import time

    holding, release = threading.Event(), threading.Event()

    def api_request():
        with engine.queue.turn():
            holding.set()
            release.wait(30)

    api = threading.Thread(target=api_request)
    api.start()
    assert holding.wait(10)
    job, box = Job(), {}
    worker = threading.Thread(target=lambda: box.update(out=generate.run(engine, generate.make_request(quick()), job)))
    worker.start()
    deadline = time.monotonic() + 10
    while engine.queue.waiting != 1:
        assert time.monotonic() < deadline, "the generation never queued"
        time.sleep(0.01)
    assert engine.queue.busy and not job.running
    job.cancel.set()
    worker.join(10)
    assert box["out"].status == CANCELLED and box["out"].done == 0
    release.set()
    api.join(10)
    assert Path(final(engine, quick())["combined"]).is_file(), "the device is free again"
