"""Each dataset's own on-disk layout and split files → :class:`~laanet.data.sources.SourceItem` lists.

===============  ===========================================================================================
dataset          layout under ``--root`` (as the dataset is downloaded)
===============  ===========================================================================================
ffpp             ``original_sequences/youtube/{raw|c23|c40}/videos/000.mp4`` and
                 ``manipulated_sequences/<Method>/{raw|c23|c40}/videos/000_003.mp4``; splits from the official
                 ``train/val/test.json`` shipped in ``laanet/data/ffpp_splits`` (a pair a,b gives reals a and b and
                 fakes a_b and b_a of every method).
cdf2             ``Celeb-real/``, ``Celeb-synthesis/``, ``YouTube-real/`` and ``List_of_testing_videos.txt``
                 (listed videos are the test split, the rest train).
dfd              FF++'s ``original_sequences/actors/<c>/videos`` (real) and
                 ``manipulated_sequences/DeepFakeDetection/<c>/videos`` (fake), or the official LAA-Net folders
                 ``DeepFakeDetection_original/`` and ``DeepFakeDetection/``; test split only.
dfdcp            DFDC-Preview ``dataset.json`` (``{"method_A/…/x.mp4": {"label": "fake", "set": "test"}}``);
                 the paper's "DFDC" column is this set (github.com/10Ring/LAA-Net/issues/3).
dfdc             DFDC: ``labels.csv`` (``filename,label``; 1 = fake) for the test set, and/or each training
                 part's ``metadata.json`` (``{"x.mp4": {"label": "FAKE", "split": "train"}}``).
dfw              WildDeepfake, extracted: ``{real,fake}_{train,test}/…/<sequence>/*.png``; already face crops,
                 one sequence folder = one video.
deepfakebench    DeepfakeBench's JSON index (``laanet.data.deepfakebench``); already face crops.
folder           ``real/**`` and ``fake/**`` (labels from the top folder; split test), or any tree without a
                 ``fake/`` folder (all real; split train). Every video and every image is one source.
===============  ===========================================================================================

Video ids are ``<dataset>/<method>/<name>`` and never merge sources of different methods or labels (the official
code keys videos by folder name, which merges ``Deepfakes/000_003`` with ``Face2Face/000_003``; official
``scripts/test.py``).
"""
from __future__ import annotations

import csv
import json
import logging
from importlib import resources
from pathlib import Path

from laanet.data.sources import IMAGE_EXTS, VIDEO_EXTS, SourceItem, list_files, relative

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "FFPP_METHODS", "ffpp_splits", "list_sources"]

DATASETS: tuple[str, ...] = ("ffpp", "cdf2", "dfd", "dfdcp", "dfdc", "dfw", "deepfakebench", "folder")
FFPP_METHODS: tuple[str, ...] = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")  # the paper's four
FFPP_ALL_METHODS: tuple[str, ...] = FFPP_METHODS + ("FaceShifter",)
SPLITS: tuple[str, ...] = ("train", "val", "test")
_COMPRESSION_DIRS = {"c0": ("raw", "c0"), "raw": ("raw", "c0"), "c23": ("c23",), "c40": ("c40",)}


def list_sources(
    dataset: str,
    root: str | Path,
    *,
    split: str | None = None,
    compression: str = "c0",
    methods: tuple[str, ...] | list[str] | None = None,
    name: str | None = None,
) -> list[SourceItem]:
    """All sources of ``dataset`` under ``root`` (optionally one ``split`` only).

    Args:
        dataset: one of :data:`DATASETS`.
        root: the dataset's download folder (for ``deepfakebench``: the folder the JSON's paths resolve in, or
            the JSON file itself).
        split: ``train``, ``val`` or ``test``; ``None`` = every split the dataset has.
        compression: ``c0`` (``raw``), ``c23`` or ``c40``; FF++ and DFD only.
        methods: FF++ only: which folders (``original`` and/or manipulation methods); default original + four.
        name: ``folder`` only: the dataset name in the index (default ``folder``).

    Raises:
        FileNotFoundError: ``root`` or the layout's files are missing.
        ValueError: unknown dataset, split or compression.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"dataset root not found: {root}")
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if compression not in _COMPRESSION_DIRS:
        raise ValueError(f"unknown compression {compression!r}; choose from c0, c23, c40")
    if dataset == "ffpp":
        items = _ffpp(root, split, compression, tuple(methods) if methods else ("original",) + FFPP_METHODS)
    elif dataset == "cdf2":
        items = _cdf2(root, split)
    elif dataset == "dfd":
        items = _dfd(root, split, compression)
    elif dataset == "dfdcp":
        items = _dfdcp(root, split)
    elif dataset == "dfdc":
        items = _dfdc(root, split)
    elif dataset == "dfw":
        items = _dfw(root, split)
    elif dataset == "deepfakebench":
        from laanet.data.deepfakebench import list_deepfakebench

        items = list_deepfakebench(root, split=split, compression=compression)
    elif dataset == "folder":
        items = _folder(root, split, name or "folder")
    else:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    logger.info("%s: %d sources (%d real, %d fake) under %s", dataset, len(items),
                sum(1 for i in items if i.label == 0), sum(1 for i in items if i.label == 1), root)
    return items


# --- FaceForensics++ ------------------------------------------------------------------------------------------

def ffpp_splits() -> dict[str, list[tuple[str, str]]]:
    """The official FF++ pair lists: ``{"train": [(a, b), ...], "val": ..., "test": ...}``."""
    folder = resources.files("laanet.data") / "ffpp_splits"
    return {s: [(str(a), str(b)) for a, b in json.loads((folder / f"{s}.json").read_text())] for s in SPLITS}


def _compression_dir(base: Path, compression: str) -> Path | None:
    for name in _COMPRESSION_DIRS[compression]:
        folder = base / name
        if folder.is_dir():
            return folder / "videos" if (folder / "videos").is_dir() else folder
    return None


def _ffpp(root: Path, split: str | None, compression: str, methods: tuple[str, ...]) -> list[SourceItem]:
    unknown = [m for m in methods if m != "original" and m not in FFPP_ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown FF++ method(s) {unknown}; choose from original, {', '.join(FFPP_ALL_METHODS)}")
    folders: dict[str, Path] = {}
    for method in methods:
        base = root / ("original_sequences/youtube" if method == "original" else f"manipulated_sequences/{method}")
        folder = _compression_dir(base, compression)
        if folder is None:
            logger.warning("ffpp: no %s videos at %s/{%s}", method, base, ",".join(_COMPRESSION_DIRS[compression]))
            continue
        folders[method] = folder
    if not folders:
        raise FileNotFoundError(
            f"{root} does not look like FaceForensics++ at {compression}: expected "
            f"original_sequences/youtube/{_COMPRESSION_DIRS[compression][0]}/videos/000.mp4"
        )
    items: list[SourceItem] = []
    missing = 0
    for s, pairs in ffpp_splits().items():
        if split is not None and s != split:
            continue
        for method, folder in folders.items():
            if method == "original":
                names = sorted({v for pair in pairs for v in pair})
            else:
                names = sorted({f"{a}_{b}" for a, b in pairs} | {f"{b}_{a}" for a, b in pairs})
            for stem in names:
                path = folder / f"{stem}.mp4"
                if not path.is_file():
                    missing += 1
                    continue
                label = 0 if method == "original" else 1
                items.append(SourceItem("ffpp", s, label, method, f"ffpp/{method}/{stem}", relative(path, root), "video", path))
    if missing:
        logger.warning("ffpp: %d videos named by the official split are missing under %s", missing, root)
    return items


# --- Celeb-DF v2 ----------------------------------------------------------------------------------------------

_CDF_FOLDERS = {"Celeb-real": 0, "YouTube-real": 0, "Celeb-synthesis": 1}


def _cdf2(root: Path, split: str | None) -> list[SourceItem]:
    listing = root / "List_of_testing_videos.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"Celeb-DF v2: {listing} not found (the official test list ships with the dataset)")
    test: set[str] = set()
    for line in listing.read_text().splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        flag, rel = parts  # the list marks real videos with 1 and fakes with 0
        test.add(rel)
        if _CDF_FOLDERS.get(rel.split("/")[0], 1) != (1 - int(flag)):
            logger.warning("Celeb-DF v2: %s is listed with label %s, which disagrees with its folder", rel, flag)
    items = []
    for folder, label in _CDF_FOLDERS.items():
        for path in list_files(root / folder, VIDEO_EXTS):
            rel = relative(path, root)
            s = "test" if rel in test else "train"
            if split is None or s == split:
                items.append(SourceItem("cdf2", s, label, folder, f"cdf2/{folder}/{path.stem}", rel, "video", path))
    if not items and split in (None, "test"):
        raise FileNotFoundError(f"Celeb-DF v2: no videos in {root}/{{{','.join(_CDF_FOLDERS)}}}")
    return items


# --- DeepFakeDetection (DFD) ----------------------------------------------------------------------------------

def _dfd(root: Path, split: str | None, compression: str) -> list[SourceItem]:
    if split not in (None, "test"):
        raise ValueError("dfd is a test set only; use --split test")
    candidates = [
        ("DeepFakeDetection_original", 0, _compression_dir(root / "original_sequences/actors", compression)),
        ("DeepFakeDetection", 1, _compression_dir(root / "manipulated_sequences/DeepFakeDetection", compression)),
    ]
    if all(folder is None for _, _, folder in candidates):  # the official LAA-Net layout
        candidates = [(m, lab, root / m) for m, lab, _ in candidates]
    items = []
    for method, label, folder in candidates:
        if folder is None:
            continue
        for path in list_files(folder, VIDEO_EXTS):
            items.append(SourceItem("dfd", "test", label, method, f"dfd/{method}/{path.stem}", relative(path, root), "video", path))
    if not items:
        raise FileNotFoundError(
            f"DFD: no videos under {root}/original_sequences/actors/<c>/videos and "
            f"manipulated_sequences/DeepFakeDetection/<c>/videos (or DeepFakeDetection_original/, DeepFakeDetection/)"
        )
    return items


# --- DFDC-Preview and DFDC ------------------------------------------------------------------------------------

def _dfdcp(root: Path, split: str | None) -> list[SourceItem]:
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"DFDC-Preview: {meta_path} not found (it ships in the preview zip)")
    items, missing = [], 0
    for rel, meta in sorted(json.loads(meta_path.read_text()).items()):
        s = str(meta.get("set", "test"))
        if s not in SPLITS or (split is not None and s != split):
            continue
        path = root / rel
        if not path.is_file():
            missing += 1
            continue
        label = 1 if str(meta.get("label", "")).lower() == "fake" else 0
        method = rel.split("/")[0]
        items.append(SourceItem("dfdcp", s, label, method, f"dfdcp/{Path(rel).with_suffix('').as_posix()}", rel, "video", path))
    if missing:
        logger.warning("DFDC-Preview: %d videos listed in dataset.json are missing under %s", missing, root)
    return items


def _dfdc(root: Path, split: str | None) -> list[SourceItem]:
    labelled: list[tuple[Path, int, str]] = []  # (path, label, split)
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        by_name = {p.name: p for p in list_files(root, VIDEO_EXTS)}
        with labels_csv.open(newline="") as fh:
            for row in csv.DictReader(fh):
                path = by_name.get(row["filename"])
                if path is None:
                    logger.warning("DFDC: %s (labels.csv) not found under %s", row["filename"], root)
                    continue
                labelled.append((path, int(float(row["label"])), "test"))
    for meta_path in sorted(root.rglob("metadata.json")):
        for name, meta in json.loads(meta_path.read_text()).items():
            path = meta_path.parent / name
            if path.is_file():
                labelled.append((path, 1 if str(meta.get("label")).upper() == "FAKE" else 0, str(meta.get("split", "train"))))
    if not labelled:
        raise FileNotFoundError(f"DFDC: neither labels.csv nor any metadata.json with videos under {root}")
    items = []
    for path, label, s in labelled:
        if s in SPLITS and (split is None or s == split):
            method = "fake" if label else "real"
            items.append(SourceItem("dfdc", s, label, method, f"dfdc/{method}/{path.stem}", relative(path, root), "video", path))
    return items


# --- WildDeepfake (DFW) ---------------------------------------------------------------------------------------

def _dfw(root: Path, split: str | None) -> list[SourceItem]:
    items = []
    found_any = False
    for s in ("train", "test"):
        for label, kind in ((0, "real"), (1, "fake")):
            top = root / f"{kind}_{s}"
            if not top.is_dir():
                continue
            found_any = True
            if split is not None and s != split:
                continue
            by_dir: dict[Path, list[Path]] = {}
            for path in list_files(top, IMAGE_EXTS):
                by_dir.setdefault(path.parent, []).append(path)
            for folder, frames in sorted(by_dir.items()):
                rel = relative(folder, root)
                items.append(SourceItem("dfw", s, label, kind, f"dfw/{rel}", rel, "frames", folder,
                                        frames=tuple(_frame_order(frames)), precropped=True))
    if not found_any:
        raise FileNotFoundError(f"WildDeepfake: expected real_test/ and fake_test/ (extracted) under {root}")
    return items


def _frame_order(frames: list[Path]) -> list[Path]:
    """Frame files sorted by the number in their name when they all have one, else by name."""
    try:
        return sorted(frames, key=lambda p: int(p.stem))
    except ValueError:
        return sorted(frames)


# --- any folder -----------------------------------------------------------------------------------------------

def _folder(root: Path, split: str | None, name: str) -> list[SourceItem]:
    if root.is_file():
        raise ValueError(f"folder: --root must be a folder, got the file {root}")
    # with a fake/ folder the tree is a labelled evaluation set; otherwise every file is a real training source
    labelled = (root / "fake").is_dir()
    tops = [("real", 0), ("fake", 1)] if labelled else [("", 0)]
    s = split or ("test" if labelled else "train")
    items = []
    for top, label in tops:
        base = root / top if top else root
        for path in list_files(base, IMAGE_EXTS | VIDEO_EXTS):
            rel = relative(path, root)
            kind = "video" if path.suffix.lower() in VIDEO_EXTS else "image"
            method = top or "real"
            items.append(SourceItem(name, s, label, method, f"{name}/{rel}", rel, kind, path))
    if not items:
        raise FileNotFoundError(f"folder: no images or videos under {root}")
    return items
