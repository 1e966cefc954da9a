"""A long-form project's data: chapters of segments, each with its takes and checks, and the project's defaults.

Plain dataclasses that turn into JSON and back (``to_dict`` / ``from_dict``); :mod:`tortoise.project.store` reads
and writes them. Segments have stable ids (``s000123``): merging, splitting or editing never renames another
segment's audio files.

A segment's status says what a render does with it:

* ``new``: never rendered; ``edited``: its text changed since its accepted take (the take stays until a new one is
  accepted); ``failed``: its last render raised an error. A plain render makes these (``pending``).
* ``bad``: marked bad by the user, or every take the checks allowed failed them (the best is kept).
* ``done``: has an accepted take that passed the checks (or checks are off).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..errors import InvalidInputError

MOST_TAKES = 10  # takes per segment and render at most: more is a render stuck on a text the voice cannot say
SCHEMA = 1  # project.json's "schema"; a newer file is refused, an older one is migrated by store.migrate
STATUSES = ("new", "edited", "failed", "bad", "done")
PENDING = ("new", "edited", "failed")


@dataclass(slots=True)
class Take:
    """One rendering of a segment: its audio file (relative to the project folder), seed, text and check results."""

    file: str
    seed: int
    text: str
    seconds: float
    checks: dict = field(default_factory=dict)  # checks.TakeCheck.to_dict(), {} when checks were off

    def to_dict(self) -> dict:
        return {"file": self.file, "seed": self.seed, "text": self.text, "seconds": self.seconds, "checks": self.checks}

    @classmethod
    def from_dict(cls, d: dict) -> Take:
        return cls(d["file"], int(d["seed"]), d["text"], float(d["seconds"]), dict(d.get("checks") or {}))


@dataclass(slots=True)
class Segment:
    """One piece of text spoken in one ``tts`` call.

    ``voice`` / ``options`` override the project's defaults for this segment (None / {}: the defaults); ``seed`` is
    an explicit seed (it wins over everything); ``next_seed`` is the seed planned for its next render, stored so a
    resumed render makes the audio the uninterrupted one would have. ``take`` indexes the accepted take in
    ``takes`` (None: no audio yet). ``paragraph_end``: the paragraph ends after this segment (a longer pause).
    """

    id: str
    text: str
    paragraph_end: bool = False
    voice: str | None = None
    options: dict = field(default_factory=dict)
    seed: int | None = None
    next_seed: int | None = None
    status: str = "new"
    takes: list[Take] = field(default_factory=list)
    take: int | None = None
    error: str | None = None

    @property
    def accepted(self) -> Take | None:
        return self.takes[self.take] if self.take is not None else None

    def to_dict(self) -> dict:
        d = {"id": self.id, "text": self.text, "status": self.status}
        # defaults are left out: a 5,000-segment file stays small and fast to write
        for name, value in (("paragraph_end", self.paragraph_end), ("voice", self.voice), ("options", self.options),
                            ("seed", self.seed), ("next_seed", self.next_seed), ("take", self.take),
                            ("error", self.error)):  # fmt: skip
            if not (value is None or value is False or value == {}):  # (`in` would drop take 0: 0 == False)
                d[name] = value
        if self.takes:
            d["takes"] = [t.to_dict() for t in self.takes]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Segment:
        status = d.get("status", "new")
        if status not in STATUSES:
            raise InvalidInputError(f"segment {d.get('id')!r} has status {status!r}; valid: {', '.join(STATUSES)}")
        return cls(
            id=d["id"],
            text=d["text"],
            paragraph_end=bool(d.get("paragraph_end", False)),
            voice=d.get("voice"),
            options=dict(d.get("options") or {}),
            seed=d.get("seed"),
            next_seed=d.get("next_seed"),
            status=status,
            takes=[Take.from_dict(t) for t in d.get("takes", ())],
            take=d.get("take"),
            error=d.get("error"),
        )


@dataclass(slots=True)
class Chapter:
    title: str
    segments: list[Segment] = field(default_factory=list)

    def name(self, index: int) -> str:
        """Its title, or "Chapter N" (``index`` from 0) for one without: what exports and the app call it."""
        return self.title or f"Chapter {index + 1}"

    def to_dict(self) -> dict:
        return {"title": self.title, "segments": [s.to_dict() for s in self.segments]}

    @classmethod
    def from_dict(cls, d: dict) -> Chapter:
        return cls(d.get("title", ""), [Segment.from_dict(s) for s in d.get("segments", ())])


@dataclass(slots=True)
class Pauses:
    """Silence, in seconds, after a segment inside a paragraph, at a paragraph's end and at a chapter's end."""

    sentence: float = 0.25
    paragraph: float = 0.75
    chapter: float = 2.0


THRESHOLDS = ("max_cer", "min_rate", "max_rate", "max_silence", "cut_off", "max_takes")  # CheckSettings' options


@dataclass(slots=True)
class CheckSettings:
    """When a take counts as bad (see :mod:`tortoise.project.checks`) and how many takes a bad segment may get."""

    enabled: bool = True
    max_cer: float = 0.35  # character error rate of the transcript against the normalised text
    min_rate: float = 6.0  # characters (of the normalised text) per second of speech
    max_rate: float = 22.0  # ~240 words a minute; narration is ~14-17 chars/s (bench/RESULTS.md, "take checks")
    max_silence: float = 1.0  # seconds of silence inside the speech (natural pauses measured <= 0.34 s)
    cut_off: bool = True  # a take still loud in its last 50 ms is bad
    max_takes: int = 3  # takes per segment and render, the first included

    def updated(self, **changes) -> CheckSettings:
        """A copy with ``changes`` (None values ignored), verified (:meth:`verify`) when there are any."""
        given = {k: v for k, v in changes.items() if v is not None}
        new = dataclasses.replace(self, **given)
        if given:
            new.verify()
        return new

    def verify(self) -> None:
        """Refuse thresholds that make no sense, saying which and what is allowed (``InvalidInputError``).

        A CER limit is a share of the text's characters (0 to 1); the rates are characters per second, not negative,
        the lowest below the highest; the longest silence is more than 0 s (at 0 every pause between words fails);
        takes are a whole number from 1 to ``MOST_TAKES``. A very high rate or silence limit is allowed: it turns
        that check off in effect. A project.json with other values still opens (only changes are verified).
        """
        numbers = {"max_cer": self.max_cer, "min_rate": self.min_rate, "max_rate": self.max_rate,
                   "max_silence": self.max_silence, "max_takes": self.max_takes}  # fmt: skip
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInputError(f"{name} must be a number; got {value!r}")
        if not 0 <= self.max_cer <= 1:
            raise InvalidInputError(f"the CER limit (max_cer) must be from 0 to 1; got {self.max_cer:g}")
        if self.min_rate < 0 or self.max_rate < 0:
            raise InvalidInputError(
                f"speech rates (min_rate, max_rate) cannot be negative; got {self.min_rate:g} and {self.max_rate:g}"
            )
        if self.min_rate >= self.max_rate:
            raise InvalidInputError(
                f"the lowest speech rate (min_rate, {self.min_rate:g} chars/s) must be below the highest "
                f"(max_rate, {self.max_rate:g} chars/s)"
            )
        if self.max_silence <= 0:
            raise InvalidInputError(f"the longest silence (max_silence) must be over 0 s; got {self.max_silence:g}")
        if self.max_takes != int(self.max_takes) or not 1 <= self.max_takes <= MOST_TAKES:
            raise InvalidInputError(
                f"takes per segment (max_takes) must be a whole number from 1 to {MOST_TAKES}; got {self.max_takes:g}"
            )


@dataclass(slots=True)
class Defaults:
    """What a segment uses unless it says otherwise; ``seed`` (explicit) gives the segment at position i seed + i."""

    voice: str = "random"
    preset: str = "fast"
    options: dict = field(default_factory=dict)  # GenerationOptions overrides of the preset
    seed: int | None = None
    splitter: str = "ours"
    desired_length: int = 200
    max_length: int = 300
    pauses: Pauses = field(default_factory=Pauses)
    checks: CheckSettings = field(default_factory=CheckSettings)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Defaults:
        d = dict(d)
        pauses = Pauses(**d.pop("pauses", {}))
        checks = CheckSettings(**d.pop("checks", {}))
        return cls(**d, pauses=pauses, checks=checks)


@dataclass(slots=True)
class Project:
    """The whole project: metadata, defaults and chapters. ``next_id`` numbers new segments."""

    title: str = ""
    author: str = ""
    cover: str | None = None  # an image file in the project folder
    source: dict = field(default_factory=dict)  # {"file": name, "kind": "txt" | "md" | "epub" | "pasted"}
    defaults: Defaults = field(default_factory=Defaults)
    chapters: list[Chapter] = field(default_factory=list)
    next_id: int = 1

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "title": self.title,
            "author": self.author,
            "cover": self.cover,
            "source": self.source,
            "defaults": self.defaults.to_dict(),
            "next_id": self.next_id,
            "chapters": [c.to_dict() for c in self.chapters],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Project:
        return cls(
            title=d.get("title", ""),
            author=d.get("author", ""),
            cover=d.get("cover"),
            source=dict(d.get("source") or {}),
            defaults=Defaults.from_dict(d.get("defaults") or {}),
            chapters=[Chapter.from_dict(c) for c in d.get("chapters", ())],
            next_id=int(d.get("next_id", 1)),
        )

    # ---- lookups and ids --------------------------------------------------------------------------------------
    def new_segment(self, text: str, *, paragraph_end: bool = False) -> Segment:
        segment = Segment(f"s{self.next_id:06d}", text, paragraph_end)
        self.next_id += 1
        return segment

    def segments(self, chapter: int | None = None):
        """(chapter index, position in the book, segment) of every segment, or of one chapter's (0-based)."""
        position = 0
        for c, ch in enumerate(self.chapters):
            for s in ch.segments:
                if chapter is None or c == chapter:
                    yield c, position, s
                position += 1

    def find(self, segment_id: str) -> tuple[int, int]:
        """(chapter index, index in the chapter) of a segment id."""
        for c, ch in enumerate(self.chapters):
            for i, s in enumerate(ch.segments):
                if s.id == segment_id:
                    return c, i
        raise InvalidInputError(f"no segment {segment_id!r} in this project")

    def chapter_index(self, number: int) -> int:
        """A chapter number as the user gives it (from 1) -> its index."""
        if not 1 <= number <= len(self.chapters):
            raise InvalidInputError(f"chapter {number}: this project's chapters are numbered 1 to {len(self.chapters)}")
        return number - 1
