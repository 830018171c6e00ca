"""laanet.faces crops: the one crop policy, its transform, border padding and paste_back."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from laanet.faces import Face, crop_face, inter_ocular_distance, paste_back, roll_degrees


@pytest.fixture(scope="module")
def portrait(sample_arrays, dlib_analyzer):
    image = sample_arrays["obama_portrait.jpg"]
    return image, dlib_analyzer.detect_one(image)


def test_crop_is_256_eyes_level_and_carries_its_transform(portrait):
    image, face = portrait
    crop = crop_face(image, face)
    assert crop.image.shape == (256, 256, 3) and crop.image.dtype == np.uint8 and crop.size == 256
    assert abs(roll_degrees(crop.landmarks)) < 0.01
    assert np.allclose(crop.to_crop(face.landmarks), crop.landmarks, atol=1e-3)
    assert np.allclose(crop.to_original(crop.landmarks), face.landmarks, atol=1e-2)
    assert crop.coverage == pytest.approx(1.0)
    # The face is centred and fills the middle two thirds (1.5× box, square).
    centre = (crop.landmarks.min(0) + crop.landmarks.max(0)) / 2
    assert np.abs(centre - 127.5).max() < 30
    span = crop.landmarks.max(0) - crop.landmarks.min(0)
    assert 0.45 * 256 < span.max() < 0.75 * 256


def test_framing_is_the_same_whatever_the_roll_and_scale(portrait, dlib_analyzer):
    image, face = portrait
    reference = crop_face(image, face)
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 20, 0.7)
    turned = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    crop = crop_face(turned, dlib_analyzer.detect_one(turned))
    assert abs(crop.roll - (reference.roll - 20)) < 2.0
    iod = inter_ocular_distance(reference.landmarks)
    assert np.abs(crop.landmarks - reference.landmarks).mean() < 0.05 * iod
    assert np.abs(crop.image.astype(int) - reference.image).mean() < 20


def test_border_pads_instead_of_shifting(portrait):
    image, face = portrait
    centred = crop_face(image, face)
    shift = int(face.box[0]) + 40  # move the face so its box starts 40 px left of the image edge
    moved_image = np.ascontiguousarray(image[:, shift:])
    moved = Face(face.box - [shift, 0, shift, 0], face.score, face.landmarks - [shift, 0], None, face.backend)
    crop = crop_face(moved_image, moved)
    assert np.allclose(crop.landmarks, centred.landmarks, atol=1e-3)  # same place in the crop
    assert crop.coverage < 0.8
    assert (crop.image[:, :20] == 0).all()  # the part beyond the edge is black padding
    replicate = crop_face(moved_image, moved, border="replicate")
    assert replicate.image[:, :20].mean() > 5


def test_paste_back_maps_crop_maps_onto_the_original(portrait):
    image, face = portrait
    crop = crop_face(image, face)
    ones = paste_back(np.ones((256, 256), np.float32), crop, image.shape)
    assert ones.shape == image.shape[:2]
    landmarks = face.landmarks.astype(int)
    assert (ones[landmarks[:, 1], landmarks[:, 0]] > 0.99).all()  # the face is covered
    assert ones[0, 0] == 0 and ones[-1, -1] == 0  # corners far from the face are not
    back = paste_back(crop.image, crop, image.shape)
    inside = ones > 0.999
    assert np.abs(back[inside].astype(int) - image[inside]).mean() < 6  # round trip ≈ identity
    # A 96×96 heatmap of the 384-px network input made from the crop, with one hot spot on the nose tip.
    network = crop.resized(384)
    heatmap = np.zeros((96, 96), np.float32)
    nose = network.landmarks[30] / 4
    heatmap[int(nose[1]), int(nose[0])] = 1.0
    pasted = paste_back(heatmap, network, image.shape, interpolation="nearest")
    peak = np.array(np.unravel_index(pasted.argmax(), pasted.shape))[::-1]
    assert np.linalg.norm(peak - face.landmarks[30]) < 0.1 * inter_ocular_distance(face.landmarks) + 8


def test_resized_composes_the_transform(portrait):
    image, face = portrait
    crop = crop_face(image, face)
    network = crop.resized(384)
    assert network.image.shape == (384, 384, 3)
    assert np.allclose(network.to_crop(face.landmarks), network.landmarks, atol=1e-3)
    assert np.allclose((crop.landmarks + 0.5) * 1.5 - 0.5, network.landmarks, atol=1e-3)
    assert crop.resized(256) is crop


def test_huge_image_is_cropped_at_full_resolution_with_antialiasing(portrait):
    image, face = portrait
    reference = crop_face(image, face)
    huge = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big_face = face.scaled(4.0)
    crop = crop_face(huge, big_face)
    assert np.allclose(crop.landmarks, reference.landmarks, atol=0.05)
    assert np.abs(crop.image.astype(int) - reference.image).mean() < 4


def test_options_and_errors(portrait):
    image, face = portrait
    stretched = crop_face(image, face, square=False)
    assert stretched.image.shape == (256, 256, 3)
    unaligned = crop_face(image, face, align=False, size=128, margin=0.1)
    assert unaligned.roll == 0 and unaligned.image.shape == (128, 128, 3)
    box_only = Face(face.box, face.score, None, None, "test")  # no landmarks: the detector box is used
    assert crop_face(image, box_only).image.shape == (256, 256, 3)
    with pytest.raises(ValueError, match="size"):
        crop_face(image, face, size=4)
    with pytest.raises(ValueError, match="margin"):
        crop_face(image, face, margin=-1)
    with pytest.raises(ValueError, match="border"):
        crop_face(image, face, border="wrap")
    with pytest.raises(ValueError, match="interpolation"):
        paste_back(np.zeros((8, 8)), crop_face(image, face), image.shape, interpolation="cubic")
