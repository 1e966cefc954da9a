# shellcheck shell=sh
# tortoise-tts-oneapi activation hook (installed into $CONDA_PREFIX/etc/conda/activate.d/).
# conda has no PyTorch build for Intel GPUs. When this machine has an Intel GPU and the environment's torch is
# not the XPU build, say once per activation how to add PyTorch's XPU wheels. Silence it: export TORTOISE_QUIET=1
# or create $CONDA_PREFIX/etc/tortoise-tts-oneapi/no-xpu-hint. Reads a few small files only; never fails.
_tts_hint() {
    [ -n "${TORTOISE_QUIET:-}" ] && return 0
    [ -n "${CONDA_PREFIX:-}" ] || return 0
    [ -e "$CONDA_PREFIX/etc/tortoise-tts-oneapi/no-xpu-hint" ] && return 0
    _tts_intel=""
    for _tts_v in "${TORTOISE_SYSFS_DRM:-/sys/class/drm}"/renderD*/device/vendor; do
        [ "$(cat "$_tts_v" 2>/dev/null)" = "0x8086" ] && _tts_intel=1
    done
    [ -n "$_tts_intel" ] || return 0
    for _tts_f in "$CONDA_PREFIX"/lib/python3*/site-packages/torch/version.py; do
        [ -f "$_tts_f" ] || continue
        # The XPU build records its SYCL version here; other builds have "xpu ... = None".
        grep -Eq "^xpu.*= *['\"]" "$_tts_f" && return 0
    done
    cat >&2 <<'MSG'
tortoise-tts-oneapi: this machine has an Intel GPU, but this environment's PyTorch is not the XPU build.
  To use the GPU, add PyTorch's XPU wheels and a current libstdc++:
    python -m pip install --force-reinstall --no-deps torch --index-url https://download.pytorch.org/whl/xpu
    python -m pip install torch --index-url https://download.pytorch.org/whl/xpu
    conda install -c conda-forge "libstdcxx>=14"
  Then check with: tortoise-tts doctor     (hide this note: export TORTOISE_QUIET=1)
MSG
    return 0
}
_tts_hint || true
unset -f _tts_hint
unset _tts_intel _tts_v _tts_f
