"""Every label, help text and message of the app, in one place (like fish-speech ``tools/webui/variables.py``).

Handlers and layout import these names; nothing user-facing is spelled anywhere else. Grouped by tab.
"""

from __future__ import annotations

TITLE = "TorToiSe TTS"
HEADER = (
    "# TorToiSe text-to-speech\n"
    "Type text, pick a voice, press **Generate**. Make your own voice in **Voices**; turn a book or a long text into "
    "an audiobook in **Projects**; past results are in **History**."
)

# ---- tabs --------------------------------------------------------------------------------------------------------
TAB_GENERATE, TAB_VOICES, TAB_HISTORY, TAB_SETTINGS = "Generate", "Voices", "History", "Settings"
TAB_PROJECTS = "Projects"

# ---- Generate -------------------------------------------------------------------------------------------------------
TEXT = "Text"
TEXT_PLACEHOLDER = (
    "Type or paste what should be said. Long text is split into segments of about 200 characters. "
    "[Bracketed] text sets the tone but is not spoken."
)
TEXT_EMPTY = "Nothing typed yet."
TEXT_INFO = "{chars} characters, {n} segment{s}"
VOICE = "Voice"
VOICE_HELP = (
    "Pick one voice, or several to mix them into one. 'random' invents a new voice each time (needs the rlg models)."
)
REFRESH = "Refresh"
RANDOM_VOICE = "Surprise me"
NO_VOICES_YET = "there are no voices yet; make one in the Voices tab"
PRESET = "Preset"
PRESET_HELP = "Speed against quality. ultra_fast is for trying things out; standard/high_quality take much longer."
CANDIDATES = "Candidates"
CANDIDATES_HELP = "How many of the best takes to keep and play (each costs a diffusion run)."
SEED = "Seed"
SEED_HELP = "-1 = a new random seed each time. The same seed and settings give the same audio."
REUSE_SEED = "Reuse last seed"
FORMAT = "Download as"
FORMAT_HELP = "wav: the model's samples as they are; the others are smaller, with the settings in their tags."
SPEED = "Speaking rate"
SPEED_HELP = "1.5 = faster, 0.5 = slower; the pitch stays."
SPEED_NEEDS_EXTRA = (
    "A speaking rate other than 1 needs pedalboard (the time stretch), which is not installed: "
    "pip install 'tortoise-tts-oneapi[speed]' and restart the app, or set the rate back to 1. Nothing was started."
)
CONVERT_FAILED = "The speech is saved in {folder} (combined.wav), but making the {fmt} file failed: {error}"
ADVANCED = "Advanced options"
SAMPLES = "Autoregressive samples"
SAMPLES_HELP = "Takes drawn before ranking; more = better odds of a good one, slower."
SAMPLER = "Diffusion sampler"
STEPS = "Diffusion steps"
TEMPERATURE = "Temperature"
TOP_P = "Top-p"
REPETITION_PENALTY = "Repetition penalty"
COND_FREE_K = "Conditioning-free k"
PRECISION = "Precision"
PRECISION_HELP = "auto = fp32, known good. bf16/fp16 are faster on GPUs but can add artefacts (opt-in)."
PRECISION_SETTINGS = "as in Settings"
VOCODER = "Vocoder"
VOICEFIXER = "Clean up with voicefixer (optional: pip install voicefixer)"
REGENERATE = "Regenerate only these segments of the last result"
REGENERATE_HELP = "e.g. 2 or 1,3-4; leave empty for a new generation."
REDACT = "Cut [bracketed] text from the audio (it sets the tone; needs a 1.3 GB speech-recognition model)"
GENERATE = "Generate"
GENERATING = "Generating..."
ALREADY_RUNNING = "This tab is already generating: wait for it to finish, or press Cancel first."
NOT_STARTED = "Not started: choose what to do with the [bracketed] text (below the buttons)."
REDACTION_NEEDS_MODEL = (
    "The text has [bracketed] parts. They set the tone and are then cut from the audio by a speech-recognition "
    "model (wav2vec2, about 1.3 GB) that is not downloaded yet. Download it once (Hugging Face cache), or speak "
    "the bracketed words too. Nothing was started."
)
REDACTION_NEEDS_TRANSFORMERS = (
    "The text has [bracketed] parts. Cutting them from the audio needs the transformers package, which is not "
    "installed: pip install 'tortoise-tts-oneapi[redaction]' and restart the app, or speak the bracketed words "
    "too. Nothing was started."
)
GET_ALIGNER = "Download the model that cuts [brackets]"
SPEAK_ALL = "Speak the bracketed words too"
ALIGNER_DOWNLOADED = "Downloaded the model that cuts [bracketed] text. Press Generate."
STREAM = "Listen as it is made (fast mode)"
LIVE = "Live: fast mode (one take, HiFi-GAN decoder), plays while the rest is made"
CANCEL = "Cancel"
STATUS = "Progress"
COMBINED = "Result (all segments)"
CANDIDATE = "Candidate {i}"
SEGMENT = "Segment {i}"
TIMINGS = "Timings"
DOWNLOAD = "Download files"
MISSING_MODELS = (
    "**The model weights are missing**: {names} in `{folder}`.\n\n"
    "Generate needs them. Download them here (about {size:.1f} GB), or import them in **Settings** if you "
    "already have the files."
)
DOWNLOAD_MODELS = "Download the missing models"
NO_TEXT = "Type some text to speak first."
NO_VOICE = "Pick a voice first."
NO_LAST_RESULT = "There is no earlier result in this tab to regenerate segments of; generate once first."
NO_LAST_SEED = "No earlier generation in this tab yet: nothing to reuse."
CANCELLED = "Cancelled. {done} of {total} segment(s) were finished and kept in {folder}."
CANCELLED_EARLY = "Cancelled before any segment was finished; nothing was kept."
CANCEL_REQUESTED = "Cancelling: stopping after the current step..."
NOTHING_TO_CANCEL = "Nothing is running."
WAITING_GPU = "Waiting for the previous job (or an API request) to finish..."
STAGE_NAMES = {
    "conditioning": "Voice",
    "autoregressive": "Autoregressive",
    "clvp": "Ranking",
    "latents": "Latents",
    "diffusion": "Diffusion",
    "vocoder": "Vocoder",
    "redaction": "Redaction",
    "voicefixer": "Voicefixer",
}

# ---- Voices ---------------------------------------------------------------------------------------------------------
NEW_VOICE = "Make a voice from your recordings"
NEW_VOICE_HELP = (
    "Upload a few recordings of one speaker (any format; 10 s to a few minutes in all), or record with the "
    "microphone. They are cleaned, cut into 3-11 s clips and checked. Your files are never changed."
)
UPLOAD = "Recordings"
RECORD = "Or record with the microphone"
PREP_OPTIONS = "Preparation steps"
DENOISE = "Reduce background noise"
DENOISE_STRENGTH = "Noise reduction strength"
HIGHPASS = "Remove rumble (70 Hz high-pass)"
TRIM = "Trim silence at the edges"
NORMALIZE = "Even out loudness (-20 LUFS)"
SLICE = "Cut into 3-11 s clips at pauses"
KEEP_REJECTED = "Also keep clips that fail the checks"
PREVIEW_WHICH = "Recording to preview"
PREVIEW = "Preview before/after"
BEFORE, AFTER = "Before", "After"
CHECK = "Check clips"
VOICE_NAME = "Voice name"
VOICE_NAME_PLACEHOLDER = "e.g. my_voice"
OVERWRITE = "Replace a voice of that name"
SAVE_VOICE = "Save voice"
CLIPS_TABLE = "Clips and checks"
CLIP_HEADERS = ["clip", "recording", "from-to (s)", "length (s)", "LUFS", "peak (dBTP)", "SNR (dB)", "verdict", "why"]
PREP_DETAILS = "Details"
NO_RECORDINGS = "Add at least one recording (upload or microphone) first."
NO_VOICE_NAME = "Type a name for the voice first."
VOICE_SAVED = "Saved voice **{name}** with {n} clip(s) to `{folder}`. Score {score}/100 ({grade})."
VOICE_NOT_SAVED = "Nothing was saved: no clip passed the checks. {advice}"
CHECKED = "Checked: {n} clip(s), score {score}/100 ({grade}). Nothing saved yet."
LIBRARY = "Your voices"
VOICE_HEADERS = ["voice", "clips", "cached latents", "where"]
PICK_VOICE = "Voice"
LISTEN = "First clip"
NEW_NAME = "New name"
RENAME = "Rename"
DELETE = "Delete"
CONFIRM_DELETE = "Yes, delete it"
DELETE_CONFIRM_FIRST = "Tick 'Yes, delete it' first."
ONLY_USER_VOICES = "{name!r} is a built-in or extra voice (in {folder}); only your own voices can be changed."
RENAMED = "Renamed {old!r} to {new!r}."
DELETED = "Deleted {name!r}."
CACHED_YES, CACHED_NO, CACHED_UNKNOWN, CACHED_FILE = "yes", "no", "- (no models)", "latents file"
WHERE_USER, WHERE_BUILTIN, WHERE_EXTRA = "yours", "built-in", "extra folder"

# ---- History --------------------------------------------------------------------------------------------------------
HISTORY_HEADERS = ["when", "voice", "text", "seconds", "RTF", "status"]
HISTORY_TABLE = "Past generations (newest first)"
HISTORY_PICK = "Generation"
HISTORY_EMPTY = "Nothing generated yet."
PICK_GENERATION = "pick a generation first"
REUSE = "Reuse these settings"
HISTORY_AUDIO = "Audio"
HISTORY_DETAILS = "Settings and timings"
FROM_FILE = "Or reuse the settings stored in a file made by this app"
NO_SETTINGS_IN_FILE = "This file holds no settings from this app."
REUSED = "Settings copied to the Generate tab."

# ---- Projects -------------------------------------------------------------------------------------------------------
PROJECT = "Project"
PROJECT_HELP = "Audiobooks and other long texts, kept in {folder}"
NEW_PROJECT = "New project"
PROJECT_NAME = "Name"
PROJECT_NAME_PLACEHOLDER = "e.g. my_book (empty: the file's name)"
BOOK_FILE = "Book: a .txt, .md or .epub file"
PASTE_TEXT = "Or paste the text (chapters start at lines like 'Chapter 2')"
PROJECT_VOICE = "Narrator's voice"
CHECK_TAKES = "Check every take with speech recognition (needs a 1.3 GB model) and redo the bad ones"
CREATE_PROJECT = "Create project"
PROJECT_CREATED = "Made project **{name}**: {chapters} chapter(s), {segments} segments. Press Render to make the audio."
NO_PROJECT_NAME = "Type a name for the project (letters or digits)."
NO_BOOK = "Upload a .txt, .md or .epub file, or paste the text, first."
FILE_OR_TEXT = "Give a file or pasted text, not both: clear one of them."
PROJECT_EXISTS = "A project named {name!r} exists already; choose another name."
PICK_PROJECT = "Pick a project first (or make one under New project)."
NO_PROJECTS = "No projects yet: make one under **New project**."
PROJECT_SUMMARY = (
    "**{title}**{by} · voice {voice} · preset {preset} · checks {checks}\n\n"
    "{chapters} chapter(s), {segments} segments: {by_status} · rendered {time}\n\nFolder: `{folder}`"
)
CHECKS_ON, CHECKS_OFF = "on", "off"
CHAPTER = "Chapter"
ALL_CHAPTERS = "All chapters"
SHOW_SEGMENTS = "Show"
SHOW_CHOICES = [("all", "all"), ("needing work (new, edited, failed, bad)", "attention"), ("bad only", "bad")]
PAGE_NUMBER = "Page"
PREVIOUS, NEXT = "< Previous", "Next >"
PAGE_INFO = "of {pages} ({n} segments)"
SEGMENT_HEADERS = ["#", "text", "voice", "status", "check (CER)", "seconds", "play"]
SEGMENTS_TABLE = "Segments: click a row to edit it, the play column to listen"
PLAY = "▶ play"
NOT_CHECKED = "not checked"
PICK_SEGMENT = "Click a segment in the table first."
SEGMENT_GONE = "That segment is no longer in the project (merged away?); click another one."
SEGMENT_HEAD = "**Segment {n}** (`{id}`, chapter {chapter}) · status **{status}**"
HEARD = "Heard: *{text}*"
SEGMENT_ERROR = "Last render failed: {error}"
SEGMENT_TEXT = "Text (type | where it should be split, then press Split)"
SAVE_TEXT = "Save text"
MERGE_NEXT = "Merge with next"
SPLIT_AT_BAR = "Split at |"
NO_SPLIT_MARK = "Type | in the text where it should be split, then press Split."
SEGMENT_VOICE = "Voice of this segment"
PROJECT_DEFAULT_VOICE = "(the project's voice)"
SET_VOICE = "Set voice"
ACCEPTED_TAKE = "Accepted take"
TAKES = "Takes"
TAKE_AUDIO = "Chosen take"
USE_TAKE = "Use this take"
PICK_TAKE = "Pick a take first."
MARK_BAD = "Mark bad"
REGENERATE_ONE = "Regenerate this segment"
SAVED_TEXT = "Saved. The segment will be rendered again; its old take stays until a new one is made."
UNCHANGED = "Nothing changed."
VOICE_SET = "Voice set; the segment will be rendered again."
MERGED = "Merged with the next segment; render it again."
SPLIT_DONE = "Split in two; render both."
TAKE_CHOSEN = "Take {n} is now the accepted one."
MARKED_BAD = "Marked bad: 'Only the bad ones' renders it again."
RENDER_SCOPE = "Render or check"
SCOPE_CHOICES = [("the whole book", "book"), ("the chosen chapter", "chapter")]  # what Render and Export cover
RENDER_WHICH = "Which segments"
WHICH_CHOICES = [
    ("new, edited or failed (resume)", "pending"), ("only the bad ones", "bad"), ("all of them again", "all"),
]  # fmt: skip
RENDER = "Render"
RENDERING = "Rendering..."
PICK_CHAPTER = "Choose a chapter in the Chapter list first (not 'All chapters')."
RENDER_PROGRESS = "Elapsed {elapsed} · about {eta} left"
NOTHING_TO_RENDER = "Nothing to render: no segment there is {which}."
WHICH_NAMES = {"pending": "new, edited or failed", "bad": "marked bad", "all": "in it"}
RENDERED = "Rendered {n} segment(s) in {time}; {bad} bad."
RENDER_FAILED = "Failed: {failed}"
SEGMENT_NUMBER = "segment {n}"
REGENERATED = "Made segment {n} again ({takes} take(s) in all){verdict}."
TAKE_PASSED, TAKE_FAILED = "; the checks passed", "; the checks failed on every take: the best is kept, marked bad"
RENDER_CANCELLED = (
    "Cancelled after {done} of {total} segment(s). Every finished segment is kept; Render goes on from there."
)
CHECK_TAKES_BUTTON = "Check takes"
CHECKING = "Checking..."
CHECK_PROGRESS = "Checked {done} of {total} take(s) · elapsed {elapsed} · about {eta} left"
NOTHING_TO_CHECK = "Nothing to check: no segment there has a take of its current text yet. Press Render first."
TAKES_CHECKED = "{n} take(s) checked in {time}, {bad} bad"
CHECKED_BAD = ": press Render with 'only the bad ones' to make them again."
CHECKED_NONE_BAD = ". Their word timings are stored (subtitles: one cue per word)."
CHECK_CANCELLED = (
    "Cancelled after checking {done} of {total} take(s). The checks made are saved; Check takes checks them all again."
)
PROJECT_MISSING_MODELS = "the model files {names} are missing; download them in the Generate or Settings tab"
CHECKS_NEED_MODEL = (
    "Checking takes needs the wav2vec2 speech-recognition model (about 1.3 GB, the one that cuts [bracketed] text), "
    "which is not downloaded yet. Download it once, or turn the checks off for this project. Nothing was started."
)
CHECKS_NEED_TRANSFORMERS = (
    "Checking takes needs the transformers package, which is not installed: pip install "
    "'tortoise-tts-oneapi[redaction]' and restart the app, or turn the checks off for this project. Nothing was "
    "started."
)
CHECK_NEEDS_MODEL = (
    "Checking takes needs the wav2vec2 speech-recognition model (about 1.3 GB, the one that cuts [bracketed] text), "
    "which is not downloaded yet. Download it once, then press Check takes again. Nothing was started."
)
CHECK_NEEDS_TRANSFORMERS = (
    "Checking takes needs the transformers package, which is not installed: pip install "
    "'tortoise-tts-oneapi[redaction]' and restart the app. Nothing was started."
)
GET_RECOGNISER = "Download the speech-recognition model"
CHECKS_OFF_BUTTON = "Turn the checks off"
RECOGNISER_DOWNLOADED = "Downloaded the speech-recognition model. Press Render or Check takes again."
CHECKS_TURNED_OFF = "Checks are off for this project. Press Render."
CHECK_THRESHOLDS = "Check thresholds"
THRESHOLD_LABELS = {
    "max_cer": "CER limit (0 to 1)", "min_rate": "Lowest speech rate (chars/s)",
    "max_rate": "Highest speech rate (chars/s)", "max_silence": "Longest silence inside (s)",
    "cut_off": "A take still loud at its very end is cut off: bad", "max_takes": "Takes per segment at most (1 to 10)",
}  # fmt: skip
THRESHOLDS_HELP = (
    "A take is bad when the text heard in it differs by more than the CER limit (the share of characters heard "
    "wrong; needs the speech-recognition model), it is spoken slower or faster than the rates, a silence inside it is "
    "longer than the limit, or it is cut off at the end. A bad take is made again with a new seed, up to the takes "
    "limit, and the best is kept. Each change is saved to the project when you leave the field (or press Enter) and "
    "applies to the next Render or Check takes; one running keeps the thresholds it started with. With the checks "
    "off, none apply. Defaults: CER {max_cer:g}, {min_rate:g} to {max_rate:g} chars/s, silence {max_silence:g} s, "
    "cut-off on, {max_takes} takes."
)
RESET_THRESHOLDS = "Reset to defaults"
THRESHOLD_EMPTY = "{label} is empty; type a number"
THRESHOLDS_REFUSED = "Not saved: {why}. The project keeps its last saved thresholds."
THRESHOLDS_SAVED = "Saved. The next Render or Check takes uses these thresholds."
THRESHOLDS_RESET = "Thresholds reset to the defaults and saved."
THRESHOLDS_RUNNING = "The render or check running now keeps the ones it started with."
EXPORT_FORMAT = "Format"
EXPORT_WORDS = "One cue per word"
EXPORT_NO_WORDS = (
    "{k} of {n} segment(s) have no word timings yet (first: segment {pos}, “{text}”): press Check takes (the "
    "whole book or that chapter), then Export again; a segment edited since its take needs Render first. Or untick "
    "“one cue per word”."
)
EXPORT_SCOPE = "Export"
EXPORT = "Export"
EXPORTED = "Wrote {file}: {time}, {chapters} chapter mark(s)."
EXPORT_LOUDNESS = "Loudness {lufs:.1f} LUFS, gain {gain:+.1f} dB."
EXPORT_FILE = "Download"
EXPORT_MISSING = (
    "Segment {n} (chapter {chapter}: “{text}”) has no audio yet{more}: press Render (new, edited or failed), "
    "then Export again."
)
EXPORT_MISSING_FAILED = (
    "Segment {n} (chapter {chapter}: “{text}”) has no audio: its render failed ({error}){more}. Click it in "
    "the table, fix its text, press Render, then Export again."
)
EXPORT_MISSING_MORE = " (and {k} more)"

# ---- Settings -------------------------------------------------------------------------------------------------------
DEVICE = "Device"
DEVICE_HELP = "auto picks the best one found (Intel GPU, NVIDIA, Apple, else CPU)."
DOCTOR = "What this machine offers (tortoise-tts doctor)"
RUN_DOCTOR = "Run the device check"
BATCH_SIZE = "Batch size (0 = automatic)"
OFFLOAD = "Model placement"
OFFLOAD_HELP = "auto decides from memory; models = move each model to the GPU only while it runs (small GPUs)."
KEEP_LOADED = "Keep models loaded between jobs (faster; off frees memory after every job)"
MODELS_DIR = "Models folder"
MODELS_DIR_HELP = "Empty = the default ({default})."
MODEL_HEADERS = ["model", "state", "MB", "needed", "purpose"]
MODELS_TABLE = "Model files"
DOWNLOAD_MISSING = "Download missing models"
IMPORT_FROM = "Import model files from a folder"
IMPORT = "Import"
OUTPUT_DIR = "Output folder"
OUTPUT_DIR_HELP = "Empty = the default ({default})."
DEFAULT_PRESET = "Default preset"
SPLITTER = "Long-text splitter"
SPLITTER_HELP = (
    "How long text is cut into segments: ours ends them at sentence ends; original is TorToiSe's own splitter "
    "(never inside double quotes), for segments identical to the original's"
)
SAVE_SETTINGS = "Save settings"
UNLOAD = "Free memory (unload models)"
SETTINGS_SAVED = "Saved to `{path}`. {applied}"
APPLIED_NOW = "Applied."
APPLIED_NEXT_JOB = "Device, precision and model changes apply from the next job."
UNLOADED = "Models unloaded; memory freed."
NOTHING_MISSING = "Every required model is present."
DOWNLOADED = "Downloaded: {names}."
