"""``tortoise.cpu.calibration``: CPU kernels chosen per machine by measurement, cached, and never the slower one."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tests.test_cpu_policy import _decoder
from tortoise import cpu
from tortoise.cpu import calibration, policy
from tortoise.cpu.calibration import Calibration, Machine, measure_alternating, pick
from tortoise.cpu.prepacked import PackedConv1d, PackedLinear, packing_works
from tortoise.cpu.winograd import WinogradConv1d
from tortoise.errors import InvalidInputError

CPU = torch.device("cpu")
HERE = Machine("Test CPU 9000", ("avx2", "avx512f"), "2.13.0", 2)
needs_packing = pytest.mark.skipif(not packing_works(torch.bfloat16), reason="this torch build has no bf16 packing")


class FakeTimer:
    """A ``measure`` that gives each kernel a fixed time per call (seconds) and counts the measurements."""

    def __init__(self, **seconds: float):
        self.seconds, self.calls = seconds, []

    def __call__(self, runs):
        self.calls.append(sorted(runs))
        return {name: [self.seconds[name]] * 7 for name in runs}


def _kinds(module: nn.Module) -> set[type]:
    return {type(m) for m in module.modules()}


@needs_packing
def test_packed_bf16_slower_than_plain_is_not_chosen_winograd_faster_is(tmp_path):
    """The AMD EPYC case of issue 20: packed bf16 layers lose to plain autocast there; they must stay plain."""
    model = _decoder(torch.bfloat16)
    timer = FakeTimer(plain=1.0, packed=1.3, winograd=0.7)
    cal = Calibration(tmp_path, mode="auto", machine=HERE, measure=timer)
    cpu.prepare("diffusion_decoder", model, CPU, cal)
    assert not _kinds(model) & {PackedLinear, PackedConv1d}
    assert WinogradConv1d in _kinds(model.layers[0])  # the float32 convolutions, where Winograd measured faster
    assert len(timer.calls) == len(cal.choices) * 2 * calibration.BLOCKS * 2  # each shape: 2 trials, 2 inputs
    assert {c.kernel for k, c in cal.choices.items() if k.startswith("packed")} == {"plain"}


def test_packed_faster_is_chosen_and_the_mlp_gelu_fused(tmp_path):
    from tests.test_gpt import TINY
    from tortoise.cpu.policy import FusedGeluMLP
    from tortoise.models.gpt import UnifiedVoice

    if not packing_works(torch.float32):
        pytest.skip("this torch build has no oneDNN packing")
    model = UnifiedVoice(TINY).eval()
    cal = Calibration(tmp_path, mode="auto", machine=HERE, measure=FakeTimer(plain=1.0, packed=0.6))
    cpu.prepare("autoregressive", model, CPU, cal)
    assert FusedGeluMLP in _kinds(model) and PackedLinear in _kinds(model)
    assert nn.Linear not in _kinds(model.gpt)


@pytest.mark.parametrize(
    ("ratios", "want"),
    [
        ([[0.5] * 9, [0.7] * 9], "packed"),  # faster everywhere
        ([[0.3] * 9, [1.2] * 9], "plain"),  # far faster on average, but clearly slower at one input
        ([[0.99] * 9, [0.99] * 9], "plain"),  # within the margin: a tie keeps the plain path
        ([[1.02] * 9, [0.5] * 9], "packed"),  # the same kernel at one input (a wrapper's cost), twice as fast at one
        ([[0.6, 0.6, 0.6, 0.6, 0.6, 3.0, 4.0], [0.8] * 7], "packed"),  # a few disturbed pairs do not decide
        ([[1.0, 1.3, 0.7, 1.2, 0.8, 1.1, 0.9], [1.05, 0.95] * 4], "plain"),  # noise around 1: no gain shown
        ([], "plain"),
    ],
)
def test_pick_keeps_the_fast_kernel_only_where_it_measurably_wins(ratios, want):
    assert pick("packed", ratios) == want


def test_two_trials_that_disagree_are_settled_by_a_third(tmp_path):
    """A burst of other work on a shared machine makes one trial see the fast kernel as slower."""
    if not packing_works(torch.float32):
        pytest.skip("this torch build has no oneDNN packing")
    per_trial = calibration.BLOCKS * len(policy.ROWS)
    verdicts = iter([1.5] * per_trial + [0.6] * per_trial * 2)  # the first trial disturbed

    def measure(runs):
        slow = next(verdicts)
        return {"plain": [1.0] * 7, "packed": [slow] * 7}

    model = nn.Sequential(nn.Linear(16, 16))
    cal = Calibration(tmp_path, mode="auto", machine=HERE, measure=measure)
    assert policy.prepack(model, policy._measure(), calibration=cal) == 1
    assert next(verdicts, None) is None  # three trials measured
    assert [c.kernel for c in cal.choices.values()] == ["packed"]


def test_a_measured_choice_is_cached_and_reused_without_measuring_again(tmp_path):
    first = _decoder(None)
    timer = FakeTimer(plain=1.0, winograd=0.5)
    cpu.prepare("diffusion_decoder", first, CPU, Calibration(tmp_path, mode="auto", machine=HERE, measure=timer))
    assert timer.calls == [["plain", "winograd"]] * (2 * calibration.BLOCKS * len(policy.CONV_INPUTS))  # one shape
    again = _decoder(None)
    cal = Calibration(tmp_path, mode="auto", machine=HERE, measure=FakeTimer())  # would fail: no times known
    cpu.prepare("diffusion_decoder", again, CPU, cal)
    assert [c.source for c in cal.choices.values()] == ["cached"]
    assert [type(m) for m in again.modules()] == [type(m) for m in first.modules()]  # the same choice
    entry = next(iter(json.loads(cal.path.read_text())["choices"].values()))
    assert entry["kernel"] == "winograd" and entry["ratios"] == [0.5, 0.5]


def test_the_machine_key_changes_with_the_cpu_its_features_torch_and_threads():
    variants = [
        HERE,
        Machine("AMD EPYC 9654 96-Core Processor", HERE.flags, HERE.torch, HERE.threads),
        Machine(HERE.cpu, (*HERE.flags, "amx_bf16"), HERE.torch, HERE.threads),
        Machine(HERE.cpu, HERE.flags, "2.14.0", HERE.threads),
        Machine(HERE.cpu, HERE.flags, HERE.torch, 16),
    ]
    assert len({m.key for m in variants}) == len(variants)
    assert Machine(HERE.cpu, HERE.flags, HERE.torch, HERE.threads).key == HERE.key
    here = Machine.current()
    assert here.threads == torch.get_num_threads() and here.torch == torch.__version__ and here.cpu


def test_another_machine_measures_again(tmp_path):
    timer = FakeTimer(plain=1.0, winograd=0.5)
    cpu.prepare(
        "diffusion_decoder", _decoder(None), CPU, Calibration(tmp_path, mode="auto", machine=HERE, measure=timer)
    )
    other = Machine(HERE.cpu, HERE.flags, HERE.torch, HERE.threads + 1)
    slower = FakeTimer(plain=1.0, winograd=1.5)
    model = _decoder(None)
    cal = Calibration(tmp_path, mode="auto", machine=other, measure=slower)
    cpu.prepare("diffusion_decoder", model, CPU, cal)
    assert slower.calls and WinogradConv1d not in _kinds(model)
    assert len(list(tmp_path.glob("*.json"))) == 2  # one file per machine


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"machine": {"key": HERE.key}, "choices": [1]}),
        json.dumps({"machine": {"key": HERE.key}, "choices": {"x": 1}}),
        "__ALL_BOGUS__",  # a well-formed file whose entries name no known kernel
    ],
)
def test_a_corrupt_cache_is_measured_again_and_rewritten(tmp_path, content):
    cal = Calibration(tmp_path, mode="auto", machine=HERE, measure=FakeTimer(plain=1.0, winograd=0.5))
    if content == "__ALL_BOGUS__":
        key = policy.trial_key("winograd", _decoder(None).layers[0].resblk.out_layers[-1])
        content = json.dumps({"machine": {"key": HERE.key}, "choices": {key: {"kernel": "bogus", "ms": "x"}}})
    cal.path.parent.mkdir(parents=True, exist_ok=True)
    cal.path.write_text(content)
    model = _decoder(None)
    cpu.prepare("diffusion_decoder", model, CPU, cal)
    assert cal.measure.calls and WinogradConv1d in _kinds(model)
    assert [e["kernel"] for e in json.loads(cal.path.read_text())["choices"].values()] == ["winograd"]


def test_an_unwritable_cache_only_means_measuring(tmp_path, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    cal = Calibration(blocked / "cpu-kernels", mode="auto", machine=HERE, measure=FakeTimer(plain=1.0, winograd=0.5))
    model = _decoder(None)
    cpu.prepare("diffusion_decoder", model, CPU, cal)
    assert WinogradConv1d in _kinds(model) and "could not cache" in caplog.text


@pytest.mark.parametrize(("mode", "packed"), [("fast", True), ("plain", False)])
def test_the_override_forces_a_side_without_measuring(tmp_path, monkeypatch, mode, packed):
    monkeypatch.setenv("TORTOISE_CPU_KERNELS", mode)
    timer = FakeTimer()
    model = _decoder(None)
    cal = Calibration(tmp_path, machine=HERE, measure=timer)
    cpu.prepare("diffusion_decoder", model, CPU, cal)
    assert (WinogradConv1d in _kinds(model)) is packed and not timer.calls and not cal.path.exists()
    assert mode in calibration.describe(cal)


def test_the_switches_are_read_and_checked():
    assert calibration.env_mode({}) == "auto"
    assert calibration.env_mode({"TORTOISE_CPU_KERNELS": " Fast "}) == "fast"
    assert calibration.env_mode({"TORTOISE_CPU_KERNELS": "fast", "TORTOISE_NO_PACK": "1"}) == "plain"
    with pytest.raises(InvalidInputError, match=r"TORTOISE_CPU_KERNELS.*auto, fast, plain"):
        calibration.env_mode({"TORTOISE_CPU_KERNELS": "fastest"})


def test_real_measurement_on_this_machine_is_reproducible_and_leaves_the_rng_alone(tmp_path):
    """Timed for real (small layers, so quickly): whatever this CPU chooses, the next load chooses the same."""

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(64, 256), nn.Linear(256, 64), nn.Conv1d(64, 64, 3, padding=1))

    first = model()
    torch.manual_seed(5)
    policy.prepack(first, policy._measure(), calibration=Calibration(tmp_path, mode="auto"))
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(3), after)  # measuring drew nothing from the seeded generator
    cal = Calibration(tmp_path, mode="auto", measure=FakeTimer())
    second = model()
    policy.prepack(second, policy._measure(), calibration=cal)
    assert {c.source for c in cal.choices.values()} == {"cached"} and len(cal.choices) == 3
    assert [type(m) for m in second] == [type(m) for m in first]
    x = torch.randn(2, 7, 64)
    with torch.no_grad():
        torch.testing.assert_close(second[1](second[0](x)), model()[1](model()[0](x)), atol=1e-4, rtol=1e-4)
    assert "cached for 3 layer shapes" in calibration.describe(cal)


def test_measure_alternating_warms_up_then_alternates_the_order():
    order = []
    ticks = iter(range(10_000))
    runs = {"plain": lambda: order.append("p"), "packed": lambda: order.append("k")}
    times = measure_alternating(runs, clock=lambda: next(ticks) * 1e-3)
    n = calibration.MIN_REPEATS
    assert len(times["plain"]) == len(times["packed"]) >= n
    assert order[:4] == ["p", "p", "k", "k"]  # two warm-up calls each
    assert order[4:8] == ["p", "k", "k", "p"]  # then each round in turn, the order reversed every other round
