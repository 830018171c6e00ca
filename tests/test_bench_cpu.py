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
