"""Throughput of the full model on random input, per model and inference backend, and what the CPU supports.

Models: a checkpoint (``weights``), a preset (``config``, random weights), or one of :data:`BENCH_MODELS` by name
(random weights: speed does not depend on the weights), e.g. LAA-Net-B4 and FakeFormer ViT-S/8 side by side.
Each (model, backend) runs in its own subprocess so that its peak RSS (``ru_maxrss``) is its own. Backends:

- ``torch``: eager float32, NCHW (the reference);
- ``torch-cl``: eager float32, channels_last memory format (what ``laanet detect --backend torch`` runs);
- ``torch-bf16``: eager with CPU bf16 autocast (needs native bf16: ``avx512_bf16`` or AMX);
- ``onnx``: ONNX Runtime CPU, float32 (graph exported on the fly, all optimisations on);
- ``onnx-int8``: ONNX Runtime CPU, static int8 (:mod:`laanet.export.quantize`; calibrated on the bundled
  sample faces and their SBI fakes before timing; the calibration time is reported as ``prepare_s``).

Every backend runs the inference graph: classification and heatmap heads; LAA-Net's self-consistency head, a
training signal that inference never reads, is left out (as in ``laanet detect``; FakeFormer has none).

Timing: ``warmup`` untimed calls, then the median of ``runs`` timed calls on one batch. Besides wall time,
``cpu_s`` is the process CPU time per batch (all threads): on a busy, shared machine wall time depends on the
other processes, CPU time much less. The 1-minute load average before and after is recorded too.

Backends whose arithmetic the CPU would only emulate (bf16 without ``avx512_bf16``/AMX: ~60× slower than
float32 on an AVX2-only CPU) are skipped with a note instead of running for minutes: :func:`skip_reason`.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

BACKENDS = ("torch", "torch-cl", "torch-bf16", "onnx", "onnx-int8")

# Models by name, random weights (speed does not depend on them): what each one is. The *-tiny ones are for
# smoke tests (a few milliseconds per face), not for figures.
BENCH_MODELS: dict[str, str] = {
    "laanet-b4": "LAA-Net EfficientNet-B4 E-FPN at 384 px (preset paper-sbi)",
    "fakeformer-vit-s8": "FakeFormer ViT-S/8 at 112 px (official vit_sbi_small)",
    "fakeswin-s": "FakeSwin-S at 224 px (official swin_sbi_small)",
    "laanet-tiny": "LAA-Net cpu-tiny preset at 128 px (smoke tests)",
    "fakeformer-tiny": "FakeFormer ViT-S/8 at 32 px, 4×4 patches (smoke tests)",
}

# /proc/cpuinfo flags that decide which arithmetic runs natively (x86; "bf16"/"i8mm"/"asimddp" on Arm).
RELEVANT_FLAGS = (
    "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_bf16", "amx_int8", "asimddp", "i8mm", "bf16",
)
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which torch's CPU kernels have no bf16 instructions.
_ONEDNN_NO_BF16 = {"sse41", "avx", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni"}


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU offers for inference, from ``/proc/cpuinfo`` (empty ``flags`` = unknown)."""

    model: str
    cores: int
    flags: frozenset[str] = field(default_factory=frozenset)
    onednn_max_isa: str | None = None  # ONEDNN_MAX_CPU_ISA, when set (caps torch's kernels, e.g. to emulate AVX2)

    @property
    def known(self) -> bool:
        return bool(self.flags)

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix arithmetic in hardware (x86: AVX512-BF16 or AMX-BF16; Arm: BF16), usable by torch."""
        if self.onednn_max_isa and self.onednn_max_isa.lower() in _ONEDNN_NO_BF16:
            return False
        return bool(self.flags & {"avx512_bf16", "amx_bf16", "bf16"})

    @property
    def int8_dot(self) -> bool:
        """A one-instruction int8 dot product (VNNI, AMX-INT8, Arm dot product): int8 gains the most."""
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"})

    def relevant_flags(self) -> list[str]:
        return [f for f in RELEVANT_FLAGS if f in self.flags]

    def describe(self) -> str:
        """One line for people: model, cores, the flags that matter, and the int8/bf16 verdicts."""
        if not self.known:
            return f"CPU: {self.model}, {self.cores} cores; flags unknown (no /proc/cpuinfo): nothing is skipped"
        line = (
            f"CPU: {self.model}, {self.cores} cores; flags: {' '.join(self.relevant_flags()) or '(none of interest)'}; "
            f"bf16 {'native' if self.native_bf16 else 'NOT native'}; int8 dot product {'yes' if self.int8_dot else 'no'}"
        )
        if self.onednn_max_isa:
            line += f"; ONEDNN_MAX_CPU_ISA={self.onednn_max_isa} caps torch (ONNX Runtime ignores it)"
        return line


def parse_cpuinfo(text: str, *, onednn_max_isa: str | None = None) -> CpuInfo:
    """Parse ``/proc/cpuinfo`` text (x86 ``flags`` or Arm ``Features`` lines) into a :class:`CpuInfo`."""
    flags: set[str] = set()
    model, cores = "unknown", 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "processor":
            cores += 1
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "cpu model") and model == "unknown":
            model = value.strip()
    return CpuInfo(model=model, cores=cores or (os.cpu_count() or 0), flags=frozenset(flags), onednn_max_isa=onednn_max_isa)


def cpu_info(path: str = "/proc/cpuinfo") -> CpuInfo:
    """This machine's :class:`CpuInfo` (flags unknown when ``path`` cannot be read, e.g. not Linux)."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return parse_cpuinfo(fh.read(), onednn_max_isa=isa)
    except OSError:
        return CpuInfo(model=platform.processor() or "unknown", cores=os.cpu_count() or 0, onednn_max_isa=isa)


def skip_reason(backend: str, cpu: CpuInfo) -> str | None:
    """Why ``backend`` should not be timed on ``cpu`` (its arithmetic would be emulated), or None to run it.

    Unknown flags skip nothing. Only emulation is skipped: int8 without VNNI still runs natively (AVX2
    ``vpmaddubsw``), just with a smaller gain, and is timed.
    """
    if not cpu.known:
        return None
    if backend == "torch-bf16" and not cpu.native_bf16:
        why = f"ONEDNN_MAX_CPU_ISA={cpu.onednn_max_isa}" if cpu.onednn_max_isa and cpu.flags & {"avx512_bf16", "amx_bf16"} else \
            "no avx512_bf16/amx_bf16"
        return f"{why}: bf16 would be emulated (one batch took ~58 s instead of ~2 s on a 2-core AVX2 CPU); --force runs it"
    return None


@dataclass
class BenchResult:
    backend: str
    batch: int
    input_size: int
    median_s: float
    min_s: float
    faces_per_s: float
    cpu_s: float  # median process CPU time per batch, all threads
    peak_rss_mb: float
    threads: int
    load_before: float  # 1-minute load average before warm-up
    load_after: float
    prepare_s: float = 0.0  # onnx / onnx-int8: export (+ calibration and quantisation) time, not in median_s
    device: str = "cpu"
    model: str = ""  # BENCH_MODELS name, weights file name or preset
    family: str = "laanet"
    random_weights: bool = True


def _model_config(name: str):
    """The architecture config of a :data:`BENCH_MODELS` entry (no pretrained download)."""
    from laanet.config import load_config

    if name in ("laanet-b4", "laanet-tiny"):
        cfg = load_config("paper-sbi" if name == "laanet-b4" else "cpu-tiny").model
        cfg.pretrained = False
        return cfg
    from laanet.config import FakeFormerConfig

    if name == "fakeformer-vit-s8":
        return FakeFormerConfig(arch="vit_s8", pretrained=False)
    if name == "fakeswin-s":
        return FakeFormerConfig(arch="swin_s", input_size=224, pretrained=False)
    if name == "fakeformer-tiny":
        return FakeFormerConfig(arch="vit_s8", input_size=32, pretrained=False)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(BENCH_MODELS)}")


def _build_model(weights: str | None, config: str, model: str | None = None):
    from laanet.config import load_config
    from laanet.models.checkpoint import load_model
    from laanet.models.family import build_model

    if weights:
        net = load_model(weights)
    elif model:
        net = build_model(_model_config(model)).eval()
    else:
        cfg = load_config(config).model
        cfg.pretrained = False
        net = build_model(cfg).eval()
    if getattr(net, "consistency_head", None) is not None:
        net.consistency_head = None  # inference never reads it (module docstring)
    return net


def _input_size(model) -> int:
    pre = getattr(model, "preprocess", None)
    return int(pre.input_size if pre is not None else model.cfg.input_size)


def _calibration_faces(model):
    """int8 calibration faces (the bundled samples + SBI fakes, 2 views) framed as ``model`` is fed."""
    from laanet.export.calibration import calibration_inputs

    return calibration_inputs(model.preprocess, views=2)


def _onnx_call(backend: str, model, batch_input, tmp: str):
    from laanet.export.onnx import OnnxModel, export_onnx
    from laanet.export.quantize import INFERENCE_OUTPUTS, QuantizeConfig, quantize_onnx

    path = export_onnx(model, os.path.join(tmp, "model.onnx"), outputs=INFERENCE_OUTPUTS)
    if backend == "onnx-int8":
        faces = _calibration_faces(model)
        path = quantize_onnx(path, os.path.join(tmp, "int8.onnx"), faces, QuantizeConfig.for_family(model.family))
    runner = OnnxModel(path)
    return lambda: runner(batch_input)


def run_backend(
    backend: str, *, weights: str | None, config: str, batch: int, warmup: int, runs: int, model: str | None = None
) -> BenchResult:
    """Time one backend in this process (``model``: a :data:`BENCH_MODELS` name, used when ``weights`` is None)."""
    import torch

    load_before = os.getloadavg()[0]
    net = _build_model(weights, config, model)
    family = str(getattr(net, "family", "laanet"))
    label = os.path.basename(weights) if weights else (model or config)
    model = net
    size = _input_size(model)
    x = torch.rand(batch, 3, size, size) * 2 - 1
    tmp = tempfile.TemporaryDirectory()
    t0 = time.perf_counter()
    if backend in ("onnx", "onnx-int8"):
        call = _onnx_call(backend, model, x, tmp.name)
        del model
    elif backend in ("torch", "torch-cl", "torch-bf16"):
        if backend == "torch-cl":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)

        def call():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=backend == "torch-bf16"):
                return model(x)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    prepare_s = time.perf_counter() - t0
    for _ in range(warmup):
        call()
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        call()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    tmp.cleanup()
    median = statistics.median(times)
    return BenchResult(
        backend=backend,
        batch=batch,
        input_size=size,
        median_s=round(median, 4),
        min_s=round(min(times), 4),
        faces_per_s=round(batch / median, 2),
        cpu_s=round(statistics.median(cpu), 4),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        threads=torch.get_num_threads(),
        load_before=round(load_before, 2),
        load_after=round(os.getloadavg()[0], 2),
        prepare_s=round(prepare_s, 1),
        model=label,
        family=family,
        random_weights=not weights,
    )


def side_by_side(results: list[BenchResult]) -> dict[str, dict[str, float]]:
    """``{backend: {model: faces/s, ..., "<model> / <first>": ratio, "<model> / <first> CPU": ratio}}``.

    Every model is compared with the first one named (e.g. FakeFormer / LAA-Net) on the same backend: by wall
    faces/s, and by CPU time per face (``cpu_s / batch``), which depends much less on other processes of a
    shared machine.
    """
    models = list(dict.fromkeys(r.model for r in results))
    by_key = {(r.backend, r.model): r for r in results}
    table: dict[str, dict[str, float]] = {}
    for r in results:
        table.setdefault(r.backend, {})[r.model] = r.faces_per_s
    for backend, row in table.items():
        base = by_key.get((backend, models[0]))
        for m in models[1:]:
            other = by_key.get((backend, m))
            if base is None or other is None:
                continue
            if base.faces_per_s:
                row[f"{m} / {models[0]}"] = round(other.faces_per_s / base.faces_per_s, 2)
            if base.cpu_s > 0 and other.cpu_s > 0:
                row[f"{m} / {models[0]} CPU"] = round((base.cpu_s / base.batch) / (other.cpu_s / other.batch), 2)
    return table


def run_isolated(backend: str, **kwargs) -> BenchResult:
    """Run :func:`run_backend` in a fresh interpreter and return its result."""
    cmd = [sys.executable, "-m", "laanet.bench", backend, json.dumps(kwargs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark of {backend} failed:\n{proc.stderr[-2000:]}")
    return BenchResult(**json.loads(proc.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":  # worker entry point used by run_isolated
    import dataclasses
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    result = run_backend(sys.argv[1], **json.loads(sys.argv[2]))
    print(json.dumps(dataclasses.asdict(result)))
