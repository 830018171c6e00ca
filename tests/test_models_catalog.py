"""`laanet models`, the weight-set catalogue, the model cards, and the card link in every result's provenance."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from laanet.cli import app
from laanet.weights.catalog import CATALOG, card_for, find, get

ROOT = Path(__file__).resolve().parents[1]
SBI_FILE = "PoseEfficientNet_EFN_hm10_EFPN_NoBasedCLS_Focal_C3_256Cst100_8SBI_SAM(Adam)_ADV_Era1_OutSigmoid_1e7_boost500_UnFZ_model_best.pth"


def test_models_lists_every_weight_set():
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("│")]
    assert len(rows) == len(CATALOG) == 5
    for entry, row in zip(CATALOG, rows):
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[0] == entry.name and cells[1] == entry.family and cells[2] == f"{entry.input_size} px"
        assert cells[-1] == f"{entry.name}.md"
    assert [c.strip() for c in rows[1].split("│")][6] == "95.40"  # LAA-Net SBI's CDF2 AUC, as the authors report it
    assert [c.strip() for c in rows[3].split("│")][6] == "94.45"  # FakeFormer's


def test_models_json_and_one_card():
    res = CliRunner().invoke(app, ["models", "--json"])
    data = json.loads(res.output)
    assert [d["name"] for d in data] == ["demo", "laanet-b4-sbi", "laanet-b4-bi", "fakeformer-vit-s8", "fakeswin-s"]
    assert {d["family"] for d in data} == {"laanet", "fakeformer"}
    vit = json.loads(CliRunner().invoke(app, ["models", "fakeformer-vit-s8", "--json"]).output)
    assert vit["input_size"] == 112 and vit["heatmap_size"] == 14 and vit["parameters"] == 22_776_194
    assert {m["benchmark"]: m["auc"] for m in vit["reported"]} == {
        "CDF1": 97.25, "CDF2": 94.45, "DFW": 81.74, "DFD": 96.12, "DFDC": 78.91, "DFDC-P": 96.30}
    assert vit["card"] == "docs/model-cards/fakeformer-vit-s8.md"
    assert any("compressed" in f for f in vit["failure_modes"])
    bad = CliRunner().invoke(app, ["models", "nope"])
    assert bad.exit_code == 2 and "known: demo, laanet-b4-sbi" in bad.output


def test_every_card_exists_and_names_its_family():
    cards = ROOT / "docs" / "model-cards"
    for entry in CATALOG:
        text = (ROOT / entry.card).read_text()
        assert re.search(rf"^\| family \| `{entry.family}`", text, re.M), entry.card
        assert f"{entry.input_size} × {entry.input_size}" in text, entry.card
        low = text.lower()
        assert all(word in low for word in ("licen", "failure modes", "parity", "intended use", "training data")), entry.card
        assert entry.name in (cards / "README.md").read_text()
    assert {p.stem for p in cards.glob("*.md")} - {"README"} == {e.name for e in CATALOG}
    assert "model-cards/demo.md" in (ROOT / "docs" / "model-card.md").read_text()  # the old link still leads there


def test_the_demo_entry_is_the_bundled_file():
    from laanet.hub import file_sha256
    from laanet.inference.detector import default_weights

    assert get("demo").sha256 == file_sha256(default_weights())


def test_matching_weights_to_cards():
    demo_sha = get("demo").sha256
    assert find(sha256=demo_sha.upper()).name == "demo"
    assert card_for(family="laanet", file_name=SBI_FILE) == "docs/model-cards/laanet-b4-sbi.md"
    assert card_for(family="laanet", name="laanet-efficientnet-b4", file_name="LAA_BI_model_best.pth") == \
        "docs/model-cards/laanet-b4-bi.md"
    assert card_for(family="fakeformer", name="fakeformer-vit-s8", file_name="x.pth") == "docs/model-cards/fakeformer-vit-s8.md"
    assert card_for(family="fakeformer", file_name="TopDownDetector_SwinSmall224_model_best.pth") == \
        "docs/model-cards/fakeswin-s.md"
    # Unknown weights: a retrained demo (another hash), a user's own B4, an unknown family: no card.
    assert card_for(sha256="0" * 64, family="laanet", name="laanet-efficientnet-lite0", file_name="demo.pt") is None
    assert card_for(sha256="0" * 64, family="laanet", file_name="my_run.pt") is None
    assert card_for(family="other", file_name=SBI_FILE) is None


@pytest.fixture(scope="module")
def photo(media_dir):
    return media_dir / "multi_face.jpg"


def test_a_demo_result_links_the_demo_card(photo, tiny_weights, tmp_path):
    from laanet.inference.detector import Detector
    from laanet.schemas import validate

    result = Detector().detect(photo).to_dict()
    validate(result, "result")
    assert result["provenance"]["model"] == {"family": "laanet", "name": "laanet-efficientnet-lite0", "card": "docs/model-cards/demo.md"}
    other = Detector(str(tiny_weights)).detect(photo).to_dict()
    validate(other, "result")
    assert other["provenance"]["model"]["card"] is None  # random tiny weights: not in the catalogue
    res = CliRunner().invoke(app, ["detect", str(photo), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    validate(doc, "document")
    assert doc["provenance"]["model"]["card"] == "docs/model-cards/demo.md"
