"""Voice names cannot escape the voices folder; readable unicode survives; empty/reserved names are refused."""

from __future__ import annotations

import os

import pytest

from tortoise.errors import InvalidInputError, VoiceError
from tortoise.voiceprep import sanitize_voice_name, voice_folder


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../x", "x"),
        ("/etc", "etc"),
        ("a/b", "a_b"),
        ("..\\..\\windows", "windows"),
        ("../../etc/passwd", "etc_passwd"),
        ("Zoë Ünal", "Zoë_Ünal"),
        ("日本語の声", "日本語の声"),
        ("e\u0301te", "éte"),  # NFC: e + combining acute -> é
        ("my voice!", "my_voice"),
        ("a\x00b\nc", "a_b_c"),
        ("  spaced  ", "spaced"),
        ("C:\\Users\\x", "C_Users_x"),
        ("-dash-", "dash"),
        ("x" * 100, "x" * 64),
    ],
)
def test_sanitize(name, expected):
    assert sanitize_voice_name(name) == expected


@pytest.mark.parametrize("name", ["", "..", ".", "   ", "/", "../..", "___", "CON", "nul", "com1"])
def test_unusable_names_are_refused(name):
    with pytest.raises(InvalidInputError, match="name"):
        sanitize_voice_name(name)


def test_non_text_name_is_refused():
    with pytest.raises(InvalidInputError, match="text"):
        sanitize_voice_name(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["../x", "/etc", "a/b", "..\\y", "Zoë"])
def test_voice_folder_stays_inside(tmp_path, name):
    folder = voice_folder(tmp_path, name)
    assert folder.parent == tmp_path.resolve()
    assert os.path.commonpath([folder, tmp_path.resolve()]) == str(tmp_path.resolve())


def test_symlinked_voice_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    voices = tmp_path / "voices"
    voices.mkdir()
    (voices / "evil").symlink_to(outside, target_is_directory=True)
    with pytest.raises(VoiceError, match="not a voice folder"):
        voice_folder(voices, "evil")
    (voices / "file").write_text("x")
    with pytest.raises(VoiceError, match="not a voice folder"):
        voice_folder(voices, "file")
