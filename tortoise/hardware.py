"""The GPUs this machine has, as the kernel lists them (sysfs), whatever PyTorch build is installed.

``doctor`` compares them with what the installed PyTorch was built for, so a CPU or CUDA wheel on an Intel GPU
machine is named with the command that fixes it. The installer (``install/install.sh``) does its own, fuller
detection before any PyTorch exists; this one only reads ``/sys/class/drm`` and ``/dev/dxg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .devices import backend_for_vendor

SYSFS_DRM = Path("/sys/class/drm")
WSL_GPU = Path("/dev/dxg")  # WSL2 passes Windows' GPUs through here; their vendor is not visible from Linux
VENDORS = {"0x8086": "intel", "0x10de": "nvidia", "0x1002": "amd"}
NAMES = {"intel": "Intel", "nvidia": "NVIDIA", "amd": "AMD"}


@dataclass(frozen=True)
class Gpu:
    vendor: str  # "intel", "nvidia", "amd" or the raw PCI vendor id
    pci_id: str  # "8086:56a0"
    node: str  # "renderD128"


def render_gpus(sysfs_drm: Path | None = None) -> list[Gpu]:
    """Every GPU with a render node, read from ``sysfs_drm`` (default :data:`SYSFS_DRM`; an empty list where there is
    none or no sysfs)."""
    gpus = []
    for node in sorted(Path(sysfs_drm or SYSFS_DRM).glob("renderD*")):
        try:
            vendor = (node / "device" / "vendor").read_text().strip().lower()
            device = (node / "device" / "device").read_text().strip().lower()
        except OSError:
            continue
        gpus.append(Gpu(VENDORS.get(vendor, vendor), f"{vendor[2:]}:{device[2:]}", node.name))
    return gpus


def build_mismatches(gpus: list[Gpu], built_for: set[str]) -> list[str]:
    """Advice for each vendor whose GPU is present while the PyTorch build lacks its backend.

    ``built_for``: the backends this PyTorch was compiled with (:func:`tortoise.devices.built_backends`).
    """
    advice = []
    for vendor in sorted({g.vendor for g in gpus}):
        backend = backend_for_vendor(vendor)
        if backend is None or backend in built_for:
            continue
        ids = ", ".join(g.pci_id for g in gpus if g.vendor == vendor)
        what = "an Arc or Core Ultra GPU" if vendor == "intel" else "a GPU that CUDA supports"
        advice.append(
            f"an {NAMES[vendor]} GPU is present (PCI {ids}) but this "
            f"PyTorch build cannot use it (no {backend.upper()} support): if it is {what}, run "
            f"`bash install/install.sh --device {backend}` to install the {backend} build"
        )
    return advice
