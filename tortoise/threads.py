"""How the CPU's OpenMP worker threads wait between operations; must be decided before torch is imported.

PyTorch's Linux wheels use GNU OpenMP, whose idle threads spin for a long while (``GOMP_SPINCOUNT`` 300,000) before
they sleep. Measured on a 2-core machine, real-size autoregressive decoding, bf16 batch 1 / batch 16 ms per step:

=====================================  ==========  ==================================
setting                                quiet CPU   one core busy with another program
=====================================  ==========  ==================================
libgomp default (long spin)            52 / 76     370 / 947
``GOMP_SPINCOUNT=10000`` (our default) 56 / 81     127 / 189
``OMP_WAIT_POLICY=PASSIVE`` (sleep)    69 / 103    86 / 124
=====================================  ==========  ==================================

Sleeping threads pay a wake-up (~75 us) at every one of the ~300 small operations of a decode step; long spinning
threads fight other programs for the cores. A short spin keeps most of the quiet-machine speed and avoids the
collapse. Whatever the user sets (either variable) wins.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SPIN_COUNT = "10000"


def configure_openmp(environ: MutableMapping[str, str] = os.environ) -> None:
    """Default ``GOMP_SPINCOUNT`` unless the user chose ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` already."""
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["GOMP_SPINCOUNT"] = SPIN_COUNT
