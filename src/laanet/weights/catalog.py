"""The weight sets laanet knows, one :class:`WeightSet` each, with a model card in ``docs/model-cards/<name>.md``.

``laanet models`` prints this list; results link to the card of the weights they came from
(:func:`card_for`, used by :mod:`laanet.inference.provenance`). Matching is by the file's SHA-256 where the
catalogue knows it (the bundled demo weights), otherwise by model family, architecture name and the authors'
file-name pattern; anything else has no card (``None``). Plain data: nothing here imports torch.

Figures are quoted, not re-measured: the authors' reported AUCs are from the official READMEs
(github.com/10Ring/LAA-Net, github.com/10Ring/LAA-Former); laanet's parity figures from its own tests.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CARDS_DIR", "CATALOG", "Metric", "WeightSet", "card_for", "find", "get"]

CARDS_DIR = "docs/model-cards"  # repository-relative; the cards are not installed with the package


@dataclass(frozen=True)
class Metric:
    """One reported result: ``auc`` (and ``ap``) in percent on ``benchmark`` (video level unless said)."""

    benchmark: str
    auc: float
    ap: float | None = None


@dataclass(frozen=True)
class WeightSet:
    """One set of weights and what is known about it (the model card's summary).

    name: the card's file stem (``docs/model-cards/<name>.md``) and the id ``laanet models`` prints.
    family: ``laanet`` or ``fakeformer`` (``laanet.models.family.FAMILIES``).
    names: architecture names (``model.name`` in provenance) this weight set is; empty = matched by SHA-256 only.
    file_pattern: regex on the weights file name that tells weight sets of one architecture apart (or None).
    sha256: the file's SHA-256 when laanet knows the exact file (only the bundled demo weights).
    """

    name: str
    title: str
    family: str
    where: str  # one short phrase: where the file comes from
    architecture: str
    input_size: int
    heatmap_size: int
    parameters: int
    source: str
    how_to_use: str
    licence: str
    training_data: str
    reported: tuple[Metric, ...]
    reported_note: str
    parity: str
    intended_use: str
    failure_modes: tuple[str, ...]
    file_names: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    file_pattern: str | None = None
    sha256: str | None = None
    preset: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def card(self) -> str:
        """Repository-relative path of the model card."""
        return f"{CARDS_DIR}/{self.name}.md"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "card": self.card}


_COMPRESSED = (
    "False positives on real, heavily compressed or re-encoded video (social-media uploads, low bit rates): "
    "compression and resizing leave blending-like artefacts; the authors trained on raw (c0) FF++ frames"
)
_LAANET_FAILURES = (
    _COMPRESSED,
    "Face swaps and reenactments unlike the blends it was trained on, and fully generated (diffusion/GAN) faces: "
    "not in its training signal",
    "Small (< ~80 px), blurred, occluded or profile faces; crops that do not follow the official framing",
    "The paper reports its lowest AUCs on in-the-wild data (DFW, DFDC): expect many errors there",
)
_LAANET_B4 = dict(
    family="laanet",
    where="authors' folder (LAA-Net README)",
    architecture="LAA-Net: EfficientNet-B4 + E-FPN; classification, 96×96 vulnerable-point heatmap, self-consistency",
    input_size=384,
    heatmap_size=96,
    parameters=27_128_786,
    source="the authors: shared folder linked from the README of github.com/10Ring/LAA-Net (not redistributed)",
    licence="SnT academic licence (research only; official LICENSE/NOTICE); laanet does not redistribute the file",
    reported_note="README of github.com/10Ring/LAA-Net (the paper's Table 1), trained on FF++ c0 real frames, video level, "
                  "AUC / AP %; the paper's 'DFDC' is DFDC-Preview (official issue #3)",
    parity="official-layout fixture checkpoint reproduces the official float64 outputs (cls, heatmap, consistency, "
           "flip-test logit) to < 1e-5, measured max 2.2e-7 (tests/test_official_checkpoint.py); the released file "
           "itself was not available to test",
    intended_use="Research and triage: scoring face videos/images for blending artefacts, with a heatmap, "
                 "alongside human review. Not a sole basis for decisions about people",
    failure_modes=_LAANET_FAILURES,
    names=("laanet-efficientnet-b4",),  # laanet.models.family model_name
)
_FAKEFORMER = dict(
    family="fakeformer",
    where="hf://10Ring/FakeFormer",
    source="the authors' Hugging Face repository 10Ring/FakeFormer (README of github.com/10Ring/LAA-Former); "
           "its file names are not known to laanet: look them up on huggingface.co/10Ring/FakeFormer",
    licence="SnT academic licence (research only; official LICENSE/NOTICE); laanet does not redistribute the files",
    intended_use="Research and faster triage on CPUs (ViT-S/8: 8.9 GFLOP per face against LAA-Net-B4's 15.1), "
                 "alongside human review. Not a sole basis for decisions about people",
)
_FAKEFORMER_REPORTED = (
    Metric("CDF1", 97.25, 98.36), Metric("CDF2", 94.45, 97.15), Metric("DFW", 81.74, 83.72),
    Metric("DFD", 96.12, 98.31), Metric("DFDC", 78.91, 80.01), Metric("DFDC-P", 96.30, 99.50),
)
_FAKEFORMER_NOTE = ("README of github.com/10Ring/LAA-Former (trained on FF++), AUC / AP %; the README does not say "
                    "which checkpoint (ViT or Swin) produced them")

CATALOG: tuple[WeightSet, ...] = (
    WeightSet(
        name="demo",
        title="laanet demo weights (LAA-Net-Lite0 toy, bundled)",
        family="laanet",
        where="bundled (default)",
        architecture="LAA-Net with an EfficientNet-Lite0 backbone (E-FPN; classification, heatmap, consistency)",
        input_size=128,
        heatmap_size=32,
        parameters=5_005_338,
        source="bundled: laanet/weights/demo.pt (the default of detect, demo, serve and the API)",
        how_to_use="the default (no --weights)",
        licence="Apache-2.0 (laanet's own; trained on public-domain US-government photos, "
                "src/laanet/assets/samples/LICENSES.md)",
        training_data="four bundled public-domain photos and two clips of two people, SBI and BI pseudo-fakes, "
                      "10 CPU minutes (scripts/train_demo.sh)",
        reported=(),
        reported_note="no authors' figures (laanet's own toy). laanet's held-out test (two other people, 32 views): "
                      "AUC 0.903 on SBI fakes, 1.000 on crude face swaps",
        parity="not applicable (not an official model); the recipe and numbers are in the card",
        intended_use="Trying laanet offline with no dataset: the demo, tests, the web page. Not for real media",
        failure_modes=(
            "Seen two people: its verdicts on real media mean little",
            "Flags a bundled real training clip (clip_obama, P(fake) 0.64)",
            _COMPRESSED,
            "Misses subtle blends; coarse heatmaps",
        ),
        file_names=("demo.pt",),
        sha256="7606637aa77301476bdc7d285cfa38df03b55ffedbcf71e7d5e592b1226c9768",
        preset="demo-lite0",
    ),
    WeightSet(
        name="laanet-b4-sbi",
        title="LAA-Net (EfficientNet-B4) trained with SBI, the authors' weights",
        how_to_use="--weights FILE.pth (as downloaded; `laanet convert` for a float32 laanet file)",
        training_data="FaceForensics++ c0 real frames only, with self-blended images (SBI) made on the fly",
        reported=(Metric("FF++", 99.96), Metric("CDF2", 95.40, 97.64), Metric("DFW", 80.03, 81.08),
                  Metric("DFD", 98.43, 99.40), Metric("DFDC-P", 86.94, 97.70)),
        file_names=("PoseEfficientNet_EFN_hm10_EFPN_NoBasedCLS_Focal_C3_256Cst100_8SBI_SAM(Adam)_ADV_Era1_OutSigmoid_"
                    "1e7_boost500_UnFZ_model_best.pth",),
        file_pattern=r"SBI",
        preset="paper-sbi",
        **_LAANET_B4,
    ),
    WeightSet(
        name="laanet-b4-bi",
        title="LAA-Net (EfficientNet-B4) trained with BI, the authors' weights",
        how_to_use="--weights FILE.pth (as downloaded)",
        training_data="FaceForensics++ c0 real frames only, with blended images (BI, Face X-ray style) made on the fly",
        reported=(Metric("FF++", 99.95), Metric("CDF2", 86.28, 91.93), Metric("DFW", 57.13, 56.89),
                  Metric("DFD", 99.51, 99.80), Metric("DFDC-P", 69.69, 93.67)),
        file_pattern=r"(?<!S)BI",
        preset="paper-bi",
        notes=("The BI file's exact name is not known to laanet (the README links a shared folder)",),
        **_LAANET_B4,
    ),
    WeightSet(
        name="fakeformer-vit-s8",
        title="FakeFormer ViT-S/8 at 112 px (SBI), the authors' weights",
        architecture="FakeFormer: ViT-S/8 (DINO init, patch-conv padding 2); class token → classification, "
                     "14×14 patch tokens → vulnerable-patch heatmap; no consistency head",
        input_size=112,
        heatmap_size=14,
        parameters=22_776_194,
        how_to_use="--weights hf://10Ring/FakeFormer/FILE (FILE as listed on the Hub; pin a commit with @REVISION)",
        training_data="FaceForensics++ real frames with SBI pseudo-fakes (official configs/spatial/vit_sbi_small.yaml); "
                      "that config trains with heatmap weight 0, so its heatmap head is not trained",
        reported=_FAKEFORMER_REPORTED,
        reported_note=_FAKEFORMER_NOTE,
        parity="official-layout fixture checkpoint (made with the official code, random weights): cls, 14×14 heatmap "
               "and flip-test values equal the official outputs to max 7.1e-15 in float64 and 3.2e-6 in float32 "
               "(tests/test_fakeformer_model.py, tolerance 1e-10 / 1e-4); the released files were not available to test",
        failure_modes=(
            _COMPRESSED,
            "The 14×14 'vulnerable patch' map of the official ViT-S config is untrained (heatmap loss weight 0): "
            "read it as a rough attention cue at best",
            "The official test crops with a 9-px margin and a corner-aligned resize to 112 px; other framings "
            "move scores",
            "Face swaps unlike SBI blends and fully generated faces; lowest reported AUCs on DFW and DFDC",
            "int8 (laanet export --int8) moves scores little (mean |ΔP| 0.005 on the fixture) but clips the logit to "
            "the calibration range: scores above it are capped (docs/model.md)",
        ),
        file_names=("TopDownDetector_…ViTSmall112_hm0_8SBI_Overlap100_MSE_AdamW_IN_1e7_FZ5_Batch32_200epochs_Drop0.2_"
                    "Decay1e4_model_best.pth (the name the official test config loads; the Hub file may differ)",),
        names=("fakeformer-vit-s8",),
        file_pattern=r"(?i)vit",
        preset="fakeformer-vit-s8-sbi",
        notes=("The file names, dtype and layout of the files in 10Ring/FakeFormer could not be retrieved; laanet "
               "loads the layouts the official save code writes",),
        **_FAKEFORMER,
    ),
    WeightSet(
        name="fakeswin-s",
        title="FakeSwin-S at 224 px (SBI or BI), the authors' weights",
        architecture="FakeSwin: Swin-S (window 7, shifts in every stage) + 4×4 stride-2 deconv → 14×14 "
                     "vulnerable-patch heatmap; classification on the pooled last stage; no consistency head",
        input_size=224,
        heatmap_size=14,
        parameters=54_890_060,
        how_to_use="--weights hf://10Ring/FakeFormer/FILE (FILE as listed on the Hub)",
        training_data="FaceForensics++ real frames with SBI (configs/spatial/swin_sbi_small.yaml, heatmap weight 0) "
                      "or BI (swin_bi_small.yaml, heatmap weight 10, 63,594,956 parameters) pseudo-fakes",
        reported=_FAKEFORMER_REPORTED,
        reported_note=_FAKEFORMER_NOTE,
        parity="no Swin output fixture exists: a strict load of the official Swin-S key layout "
               "(keys_swin_small.tsv, 373 keys) and a forward of the right shapes only "
               "(tests/test_fakeformer_model.py::test_swin_small_official_layout_loads_strictly)",
        failure_modes=(
            _COMPRESSED,
            "Numerical parity with the official Swin was not shown on official outputs (no fixture)",
            "The SBI config's heatmap head is untrained (weight 0)",
        ),
        file_names=("…SwinSmall224_hm0_8SBI_…_MSE_AdamW_IN_5e5_FZ5_Batch32_100epochs…_model_best.pth (SBI, as the "
                    "official config names it)", "…SwinSmall224_hm10_16BI_Overlap100_Focal_AdamW_IN_1e7…_model_best.pth (BI)"),
        names=("fakeformer-swin-s",),
        file_pattern=r"(?i)swin",
        preset="fakeswin-s-sbi (SBI), fakeswin-s-bi (BI)",
        **_FAKEFORMER,
    ),
)


def get(name: str) -> WeightSet:
    """The weight set called ``name`` (clear error listing the known ones)."""
    for entry in CATALOG:
        if entry.name == name:
            return entry
    raise KeyError(f"unknown weight set {name!r}; known: {', '.join(w.name for w in CATALOG)}")


def find(*, sha256: str | None = None, family: str | None = None, name: str | None = None,
         file_name: str | None = None) -> WeightSet | None:
    """The catalogue entry of some weights, or None when laanet does not know them.

    1. a known SHA-256 (exact file); 2. otherwise entries of ``family`` without a fixed SHA-256 whose ``names``
    hold ``name`` (any of the family when ``name`` is None); several left: the one whose ``file_pattern`` matches
    ``file_name``; anything but exactly one left: None.
    """
    if sha256:
        for entry in CATALOG:
            if entry.sha256 == sha256.lower():
                return entry
    if family is None:
        return None
    found = [e for e in CATALOG if e.sha256 is None and e.family == family and (name is None or name in e.names)]
    if len(found) > 1:
        found = [e for e in found if e.file_pattern and file_name and re.search(e.file_pattern, file_name)]
    return found[0] if len(found) == 1 else None


def card_for(*, sha256: str | None = None, family: str | None = None, name: str | None = None,
             file_name: str | None = None) -> str | None:
    """The repository-relative model-card path for these weights (:func:`find`), or None."""
    entry = find(sha256=sha256, family=family, name=name, file_name=file_name)
    return entry.card if entry else None
