"""`laanet bench`: CPU flag parsing and the decision to skip emulated backends (flags injected, nothing timed)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from laanet.bench import CpuInfo, parse_cpuinfo, skip_reason
from laanet.cli import app

AVX2_ONLY = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz
flags\t\t: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2
processor\t: 1
model name\t: Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz
flags\t\t: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2
"""
ZEN4 = """processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512vl avx512_bf16 avx512_vnni gfni
"""
SAPPHIRE = "processor : 0\nmodel name : Xeon\nflags : avx2 avx512f avx_vnni amx_tile amx_bf16 amx_int8 avx512_fp16\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd asimddp bf16 i8mm\nCPU part\t: 0xd4f\n"


def test_parse_x86_avx2_only():
    cpu = parse_cpuinfo(AVX2_ONLY)
    assert cpu.cores == 2 and cpu.model.startswith("Intel(R) Core")
    assert cpu.relevant_flags() == ["avx2", "fma", "f16c"]
    assert not cpu.native_bf16 and not cpu.int8_dot and cpu.known


def test_parse_avx512_bf16_and_amx():
    zen = parse_cpuinfo(ZEN4)
    assert zen.cores == 1 and zen.native_bf16 and zen.int8_dot
    assert "avx512_bf16" in zen.relevant_flags() and "gfni" not in zen.relevant_flags()
    spr = parse_cpuinfo(SAPPHIRE)
    assert spr.native_bf16 and spr.int8_dot and "amx_int8" in spr.relevant_flags()


def test_parse_arm_features_line():
    cpu = parse_cpuinfo(ARM)
    assert cpu.native_bf16 and cpu.int8_dot and cpu.flags >= {"bf16", "i8mm"}


def test_skip_bf16_only_where_it_would_be_emulated():
    assert "emulated" in skip_reason("torch-bf16", parse_cpuinfo(AVX2_ONLY))
    assert skip_reason("torch-bf16", parse_cpuinfo(ZEN4)) is None
    assert skip_reason("torch-bf16", parse_cpuinfo(SAPPHIRE)) is None
    # int8 without VNNI is native (slower gain), never skipped; nor are the float backends.
    for backend in ("torch", "torch-cl", "onnx", "onnx-int8"):
        assert skip_reason(backend, parse_cpuinfo(AVX2_ONLY)) is None
    # Unknown flags (no /proc/cpuinfo): nothing is skipped.
    assert skip_reason("torch-bf16", CpuInfo(model="?", cores=2)) is None


def test_onednn_isa_cap_counts_as_no_bf16():
    capped = parse_cpuinfo(ZEN4, onednn_max_isa="AVX2")
    assert not capped.native_bf16
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in skip_reason("torch-bf16", capped)
    assert parse_cpuinfo(ZEN4, onednn_max_isa="avx512_core_bf16").native_bf16


def test_cli_bench_prints_flags_and_skips(monkeypatch):
    import laanet.bench

    def no_run(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("a skipped backend was run")

    monkeypatch.setattr(laanet.bench, "cpu_info", lambda: parse_cpuinfo(AVX2_ONLY))
    monkeypatch.setattr(laanet.bench, "run_isolated", no_run)
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "--backends", "torch-bf16"])
    assert res.exit_code == 0, res.output
    first, note, second = res.output.strip().splitlines()
    assert "avx2 fma f16c" in first and "bf16 NOT native" in first
    assert note.startswith("random weights")
    assert second.strip().startswith("torch-bf16: skipped") and "--force" in second
    res = runner.invoke(app, ["bench", "--backends", "torch-bf16", "--json"])
    rows = [json.loads(line) for line in res.output.strip().splitlines()]
    assert rows[0]["cpu"]["flags"] == ["avx2", "fma", "f16c"] and rows[0]["cpu"]["native_bf16"] is False
    assert rows[1]["backend"] == "torch-bf16" and "emulated" in rows[1]["skipped"]
    with pytest.raises(AssertionError, match="skipped backend was run"):
        res = runner.invoke(app, ["bench", "--backends", "torch-bf16", "--force"], catch_exceptions=False)


# --- both families side by side: the summary, the CLI wiring, and real (tiny) runs of each family -----------------

def _result(model: str, backend: str, faces_per_s: float, family: str = "laanet", cpu_s: float = 1.0):
    from laanet.bench import BenchResult

    return BenchResult(backend=backend, batch=8, input_size=112 if family == "fakeformer" else 384, median_s=8 / faces_per_s,
                       min_s=8 / faces_per_s, faces_per_s=faces_per_s, cpu_s=cpu_s, peak_rss_mb=900.0, threads=2,
                       load_before=1.0, load_after=1.0, model=model, family=family)


def test_side_by_side_ratios():
    from laanet.bench import side_by_side

    table = side_by_side([_result("laanet-b4", "torch", 2.0, cpu_s=8.0), _result("fakeformer-vit-s8", "torch", 7.0, "fakeformer", 2.0),
                          _result("laanet-b4", "onnx", 4.0, cpu_s=3.0), _result("fakeformer-vit-s8", "onnx", 18.0, "fakeformer", 0.5)])
    assert table == {
        "torch": {"laanet-b4": 2.0, "fakeformer-vit-s8": 7.0, "fakeformer-vit-s8 / laanet-b4": 3.5,
                  "fakeformer-vit-s8 / laanet-b4 CPU": 4.0},
        "onnx": {"laanet-b4": 4.0, "fakeformer-vit-s8": 18.0, "fakeformer-vit-s8 / laanet-b4": 4.5,
                 "fakeformer-vit-s8 / laanet-b4 CPU": 6.0},
    }


def test_cli_bench_models_side_by_side(monkeypatch):
    import laanet.bench

    calls = []
    speeds = {("laanet-b4", "torch"): 2.0, ("fakeformer-vit-s8", "torch"): 6.5,
              ("laanet-b4", "onnx"): 4.0, ("fakeformer-vit-s8", "onnx"): 13.0}

    def fake_run(backend, **kwargs):
        calls.append((kwargs["model"], backend, kwargs["weights"]))
        fam = "fakeformer" if kwargs["model"].startswith("fake") else "laanet"
        return _result(kwargs["model"], backend, speeds[(kwargs["model"], backend)], fam)

    monkeypatch.setattr(laanet.bench, "cpu_info", lambda: parse_cpuinfo(AVX2_ONLY))
    monkeypatch.setattr(laanet.bench, "run_isolated", fake_run)
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "--models", "laanet-b4,fakeformer-vit-s8", "--backends", "torch,onnx"])
    assert res.exit_code == 0, res.output
    assert calls == [("laanet-b4", "torch", None), ("laanet-b4", "onnx", None),
                     ("fakeformer-vit-s8", "torch", None), ("fakeformer-vit-s8", "onnx", None)]
    lines = res.output.strip().splitlines()
    assert "random weights" in lines[1]
    assert lines[-2].split() == ["torch", "2.00", "6.50", "3.25×", "1.00×"]  # same CPU s per batch in fake_run
    assert lines[-1].split() == ["onnx", "4.00", "13.00", "3.25×", "1.00×"]
    res = runner.invoke(app, ["bench", "--models", "laanet-b4,fakeformer-vit-s8", "--backends", "torch,onnx", "--json"])
    summary = json.loads(res.output.strip().splitlines()[-1])["faces_per_s"]
    assert summary["onnx"]["fakeformer-vit-s8 / laanet-b4"] == 3.25
    bad = runner.invoke(app, ["bench", "--models", "laanet-b4,vit-huge"])
    assert bad.exit_code == 2 and "unknown model(s) vit-huge" in bad.output


@pytest.mark.parametrize("model, size, family", [("laanet-tiny", 128, "laanet"), ("fakeformer-tiny", 32, "fakeformer")])
def test_run_backend_each_family(model, size, family, one_torch_thread):
    """A real (tiny) timing of each family on torch and onnx, in this process: right model, input, family."""
    from laanet.bench import run_backend

    for backend in ("torch", "onnx"):
        res = run_backend(backend, weights=None, config="paper-sbi", batch=2, warmup=0, runs=1, model=model)
        assert (res.model, res.family, res.input_size, res.batch, res.backend) == (model, family, size, 2, backend)
        assert res.faces_per_s > 0 and res.random_weights


def test_run_isolated_fakeformer_int8():
    """onnx-int8 of FakeFormer in its own process (calibration, quantisation, timing), peak RSS its own."""
    from laanet.bench import run_isolated

    res = run_isolated("onnx-int8", weights=None, config="paper-sbi", batch=2, warmup=0, runs=1, model="fakeformer-tiny")
    assert res.family == "fakeformer" and res.input_size == 32 and res.peak_rss_mb > 50 and res.prepare_s > 0
