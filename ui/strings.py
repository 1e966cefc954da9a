"""Every label, help text and message of the app, in one place (like fish-speech ``tools/webui/variables.py``).

Handlers and layout import these names; nothing user-facing is spelled anywhere else. Grouped by tab.
"""

from __future__ import annotations

TITLE = "TorToiSe TTS"
HEADER = (
    "# TorToiSe text-to-speech\n"
    "Type text, pick a voice, press **Generate**. Make your own voice in **Voices**; past results are in **History**."
)

# ---- tabs --------------------------------------------------------------------------------------------------------
TAB_GENERATE, TAB_VOICES, TAB_HISTORY, TAB_SETTINGS = "Generate", "Voices", "History", "Settings"

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
