"""Files shipped inside the package: a few public-domain face photos and clips made from them.

See ``samples/LICENSES.md`` for where each photo comes from and its licence. ``python -m
laanet.assets.build_samples`` rebuilds the folder from the original packages.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_IMAGES = (  # file name → one face each
    "astronaut.jpg",
    "grace_hopper.jpg",
    "obama_portrait.jpg",
    "obama_speech.jpg",
    "obama_blue_room.jpg",
    "biden_blue_room.jpg",
)
SAMPLE_CLIPS = ("clip_astronaut.mp4", "clip_obama.mp4")


def samples_dir() -> Path:
    """Folder holding the bundled sample photos and clips."""
    return Path(str(resources.files("laanet.assets") / "samples"))


def sample_path(name: str) -> Path:
    """Path of one bundled sample (a name from :data:`SAMPLE_IMAGES` or :data:`SAMPLE_CLIPS`).

    Raises:
        FileNotFoundError: no such sample; the message lists the valid names.
    """
    path = samples_dir() / name
    if name not in SAMPLE_IMAGES + SAMPLE_CLIPS or not path.is_file():
        raise FileNotFoundError(f"no bundled sample {name!r}; choose from {list(SAMPLE_IMAGES + SAMPLE_CLIPS)}")
    return path


def sample_images() -> list[Path]:
    """Paths of the bundled single-face photos."""
    return [sample_path(name) for name in SAMPLE_IMAGES]


def sample_clips() -> list[Path]:
    """Paths of the bundled H.264 clips."""
    return [sample_path(name) for name in SAMPLE_CLIPS]
