"""Drawing one synthetic face from its projected parts.

Order: torso, hair, neck and ears on the background; then a face layer (skin, brows, eyes,
nose, lips, fringe) lit by a shading map and pasted through the face outline; the caller adds
occluders and camera damage on top.

Edges sit where the labels say. OpenCV takes pixel-centre coordinates (the heatmark
convention), but its anti-aliased fill reaches about 0.7 px beyond a polygon's true edge and
snaps horizontal edges to whole rows. Labelled polygons (face outline, eyes, lips, brows) are
therefore painted through a coverage mask drawn at ``SUPERSAMPLE`` times the resolution without
anti-aliasing (the plain fill includes pixels up to ``FILL_GROWTH`` fine pixels outside the
edge, so the polygon is inset by that much) and averaged down; their 50% coverage level then
lies on the polygon to within about 0.05 px at every edge direction (tested).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from heatmark.data.synthetic.clutter import SHIFT, fixed
from heatmark.data.synthetic.head import HeadParts

SUPERSAMPLE = 4  # the two halvings in ``coverage_mask`` assume 4
FILL_GROWTH = 0.5

_SKIN_TONES = np.array(
    [
        [250, 222, 200],
        [240, 200, 170],
        [228, 180, 145],
        [205, 150, 110],
        [180, 125, 90],
        [150, 100, 70],
        [115, 75, 50],
        [85, 55, 38],
    ],
    dtype=np.float64,
)
_HAIR = np.array(
    [
        [20, 16, 14],
        [45, 30, 22],
        [80, 55, 35],
        [120, 85, 55],
        [175, 140, 90],
        [215, 190, 140],
        [140, 65, 30],
        [130, 130, 130],
        [205, 205, 200],
    ],
    dtype=np.float64,
)
_HAIR_WEIGHTS = np.array([0.25, 0.22, 0.16, 0.1, 0.08, 0.05, 0.05, 0.05, 0.04])
_IRIS = np.array(
    [[90, 60, 35], [45, 30, 20], [80, 120, 170], [90, 120, 80], [120, 130, 135]], dtype=np.float64
)
_LIPSTICK = np.array([[170, 30, 45], [200, 90, 120], [90, 30, 40], [150, 60, 60]], dtype=np.float64)


Colour = tuple[float, float, float]


def _colour(rgb: Colour, factor: float = 1.0, lift: float = 0.0) -> tuple[int, int, int]:
    """``rgb * factor + lift`` as an OpenCV colour (pure Python: it is called a lot)."""
    r, g, b = rgb
    return (
        min(255, max(0, int(r * factor + lift + 0.5))),
        min(255, max(0, int(g * factor + lift + 0.5))),
        min(255, max(0, int(b * factor + lift + 0.5))),
    )


def random_skin(rng: np.random.Generator) -> np.ndarray:
    """An RGB skin tone (float), anywhere from very light to very dark."""
    tone = _SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))]
    return np.clip(tone * rng.uniform(0.9, 1.06) + rng.normal(0, 6, size=3), 0, 255)


@dataclass(frozen=True)
class Palette:
    """The colours of one person and their clothes (RGB, 0..255 floats)."""

    skin: Colour
    hair: Colour
    brows: Colour
    lashes: Colour
    lips: Colour
    iris: Colour
    sclera: Colour
    mouth: Colour
    teeth: Colour
    clothes: Colour


def sample_palette(rng: np.random.Generator) -> Palette:
    """Skin, hair and clothes colours; brows are always darker than both skin and hair."""
    skin = random_skin(rng)
    if rng.random() < 0.06:  # bald or shaved
        hair = skin * rng.uniform(0.8, 0.95)
    else:
        hair = _HAIR[rng.choice(len(_HAIR), p=_HAIR_WEIGHTS)] * rng.uniform(0.8, 1.2)
    brows = np.minimum(hair * rng.uniform(0.6, 0.9), skin * rng.uniform(0.35, 0.6))
    if rng.random() < 0.12:
        lips = _LIPSTICK[int(rng.integers(len(_LIPSTICK)))] * rng.uniform(0.85, 1.1)
    else:
        lips = skin * np.array([0.82, 0.6, 0.6]) * rng.uniform(0.8, 1.0) + [20, 0, 5]
    colours = {
        "skin": skin,
        "hair": np.clip(hair, 0, 255),
        "brows": brows,
        "lashes": np.minimum(brows, skin * 0.4) * 0.7,
        "lips": np.clip(lips, 0, 255),
        "iris": _IRIS[int(rng.integers(len(_IRIS)))] * rng.uniform(0.7, 1.2),
        "sclera": np.array([238.0, 232.0, 225.0]) * rng.uniform(0.8, 1.0),
        "mouth": np.array([70.0, 25.0, 30.0]) * rng.uniform(0.5, 1.2),
        "teeth": np.array([235.0, 228.0, 205.0]) * rng.uniform(0.8, 1.0),
        "clothes": rng.uniform(0, 255, size=3),
    }
    return Palette(**{name: tuple(value.tolist()) for name, value in colours.items()})


def inset_polygon(polygon: np.ndarray, distance: float) -> np.ndarray:
    """Move every edge of a closed polygon (n, 2) inwards by ``distance`` (mitred corners).

    Thin polygons (a closed eye, closed lips) are inset by at most 30% of their mean thickness
    so they never turn inside out. Points are handled as complex numbers (x + iy): fewer numpy
    calls for these small polygons, which are inset several times per face.
    """
    z = np.ascontiguousarray(polygon, dtype=np.float64).view(np.complex128)[:, 0]
    step = np.concatenate((z[1:], z[:1])) - z
    length = np.abs(step)
    if length.min() <= 1e-6:  # repeated points
        z = z[length > 1e-6]
        step = np.concatenate((z[1:], z[:1])) - z
        length = np.abs(step)
    twice_area = float((z.conj() * (z + step)).imag.sum()) if len(z) >= 3 else 0.0
    if abs(twice_area) < 1e-9:
        return z.view(np.float64).reshape(-1, 2)
    distance = min(distance, 0.3 * abs(twice_area) / float(length.sum()))
    # Turning an edge by +90 degrees (times i) points inwards when the area is positive.
    normal = step * (1j if twice_area > 0 else -1j) / length
    previous = np.concatenate((normal[-1:], normal[:-1]))
    denominator = np.maximum(1.0 + (normal * previous.conj()).real, 0.5)
    moved = z + (normal + previous) * (distance / denominator)
    return moved.view(np.float64).reshape(-1, 2)


def coverage_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (height, width) coverage of ``polygon`` (pixel centres) with exact edges.

    Drawn without anti-aliasing at ``SUPERSAMPLE`` times the resolution, inset by
    ``FILL_GROWTH`` fine pixels, then averaged down (two exact 2x2 box halvings).
    """
    fine = np.zeros((height * SUPERSAMPLE, width * SUPERSAMPLE), np.uint8)
    inset = inset_polygon((polygon + 0.5) * SUPERSAMPLE - 0.5, FILL_GROWTH)
    if len(inset) >= 3:
        cv2.fillPoly(fine, [fixed(inset)], 255, cv2.LINE_8, SHIFT)
    half = cv2.resize(fine, (width * 2, height * 2), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(half, (width, height), interpolation=cv2.INTER_LINEAR)


def fill_exact(image: np.ndarray, polygon: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Paint ``polygon`` (pixel centres) so that its edges are at 50% coverage exactly."""
    height, width = image.shape[:2]
    low = polygon.min(axis=0)
    high = polygon.max(axis=0)
    x0, y0 = max(int(low[0]) - 1, 0), max(int(low[1]) - 1, 0)
    x1, y1 = min(int(high[0]) + 3, width), min(int(high[1]) + 3, height)
    if x1 <= x0 or y1 <= y0:
        return
    alpha = coverage_mask(polygon - (x0, y0), y1 - y0, x1 - x0)
    region = image[y0:y1, x0:x1]
    work = region.astype(np.float32)
    weight = alpha.astype(np.float32)[..., None] * (1.0 / 255)
    work += weight * (np.array(colour, np.float32) - work)
    region[:] = work + 0.5


def _fill(image: np.ndarray, polygon: np.ndarray, colour: tuple | float) -> None:
    cv2.fillPoly(image, [fixed(polygon)], colour, cv2.LINE_AA, SHIFT)


def _hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(points.astype(np.float32))[:, 0].astype(np.float64)


def _line(
    image: np.ndarray,
    points: np.ndarray,
    colour: tuple | float,
    thickness: float,
    closed: bool = False,
) -> None:
    cv2.polylines(
        image, [fixed(points)], closed, colour, max(1, round(thickness)), cv2.LINE_AA, SHIFT
    )


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(x[:-1] @ y[1:] - x[1:] @ y[:-1] + x[-1] * y[0] - x[0] * y[-1]))


def _clipped(
    image: np.ndarray, clip: np.ndarray, draw: Callable[[np.ndarray, np.ndarray], None]
) -> None:
    """Run ``draw(patch, origin)`` on a copy of the box around ``clip``; keep what is inside.

    The copy goes back through a hard (not anti-aliased) mask: callers draw an anti-aliased
    line along ``clip`` afterwards (eyelids, the lip line), which hides the stair steps.
    """
    height, width = image.shape[:2]
    low = clip.min(axis=0)
    high = clip.max(axis=0)
    x0, y0 = max(int(low[0]) - 1, 0), max(int(low[1]) - 1, 0)
    x1, y1 = min(int(high[0]) + 2, width), min(int(high[1]) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return
    origin = np.array([x0, y0], dtype=np.float64)
    region = image[y0:y1, x0:x1]
    patch = region.copy()
    draw(patch, origin)
    mask = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(mask, [fixed(clip - origin)], 1, cv2.LINE_8, SHIFT)
    np.copyto(region, patch, where=mask.view(bool)[..., None])


def draw_body(
    image: np.ndarray,
    parts: HeadParts,
    palette: Palette,
    long_hair: bool,
    rng: np.random.Generator,
    iod: float,
) -> None:
    """Torso, hair, neck and ears (the face is pasted over them later)."""
    skin = palette.skin
    _fill(image, _hull(parts.torso), _colour(palette.clothes))
    if rng.random() < 0.4:  # a collar or a print on the clothes
        _line(image, _hull(parts.torso), _colour(palette.clothes, 0.6), iod * 0.1, closed=True)

    def ears() -> None:
        for ear in parts.ears:
            _fill(image, ear, _colour(skin, 0.88))
            inner = ear.mean(axis=0) + (ear - ear.mean(axis=0)) * 0.55
            _fill(image, inner, _colour(skin, 0.7))

    if long_hair:
        ears()
    hair = _hull(parts.skull)
    _fill(image, hair, _colour(palette.hair))
    centre = hair.mean(axis=0)
    for _ in range(int(rng.integers(3, 10))):  # locks: runs of the outline pulled inwards
        first = int(rng.integers(len(hair)))
        run = hair[np.arange(first, first + int(rng.integers(3, 6))) % len(hair)]
        lock = run + (centre - run) * rng.uniform(0.05, 0.35)
        shade = rng.uniform(0.55, 1.4)
        _line(image, lock, _colour(palette.hair, shade, 15.0 if shade > 1 else 0.0), iod * 0.025)

    neck = rng.uniform(0.55, 0.75)
    _fill(image, parts.neck, _colour(skin, neck))
    jaw = parts.landmarks[2:15]
    down = parts.landmarks[8] - parts.landmarks[27]
    down = down / (np.linalg.norm(down) + 1e-9) * iod

    def shadow(patch: np.ndarray, origin: np.ndarray) -> None:
        band = np.concatenate([jaw, jaw[::-1] + down * 0.35]) - origin
        _fill(patch, band, _colour(skin, neck * 0.6))
        patch[:] = cv2.blur(patch, (3, 3))

    _clipped(image, parts.neck, shadow)
    if not long_hair:
        ears()


def _draw_eye(
    face: np.ndarray,
    eye: np.ndarray,
    iris: np.ndarray,
    pupil: np.ndarray,
    palette: Palette,
    iod: float,
) -> None:
    if _area(eye) < 0.5:
        _line(face, eye[:4], _colour(palette.brows, 0.6), iod * 0.03)
        return

    fill_exact(face, eye, _colour(palette.sclera))

    def inside(patch: np.ndarray, origin: np.ndarray) -> None:
        _fill(patch, iris - origin, _colour(palette.iris))
        _line(patch, iris - origin, _colour(palette.iris, 0.55), iod * 0.012, closed=True)
        _fill(patch, pupil - origin, (12, 10, 10))
        glint = pupil.mean(axis=0) - origin + (pupil.max(axis=0) - pupil.min(axis=0)) * 0.35
        cv2.circle(
            patch,
            tuple(fixed(glint)),
            int(max(0.6, iod * 0.012) * 16),
            (250, 250, 250),
            -1,
            cv2.LINE_AA,
            SHIFT,
        )

    _clipped(face, eye, inside)
    _line(face, eye[:4], _colour(palette.lashes), iod * 0.035)
    _line(face, eye[[3, 4, 5, 0]], _colour(palette.skin, 0.62), iod * 0.015)


def _draw_mouth(face: np.ndarray, points: np.ndarray, palette: Palette, iod: float) -> None:
    fill_exact(face, points[48:60], _colour(palette.lips))
    inner = points[60:68]
    if _area(inner) > 0.02 * iod * iod:
        fill_exact(face, inner, _colour(palette.mouth))
        gap = inner[[5, 6, 7], 1].mean() - inner[[1, 2, 3], 1].mean()

        def teeth(patch: np.ndarray, origin: np.ndarray) -> None:
            upper = inner[[0, 1, 2, 3, 4]] - origin
            band = upper + [0, min(0.45 * gap, 0.09 * iod)]
            _fill(patch, np.concatenate([upper, band[::-1]]), _colour(palette.teeth))
            if gap > 0.25 * iod:
                lower = inner[[4, 5, 6, 7, 0]] - origin
                _fill(
                    patch,
                    np.concatenate([lower, lower[::-1] - [0, 0.06 * iod]]),
                    _colour(palette.teeth, 0.9),
                )

        _clipped(face, inner, teeth)
    _line(face, inner, _colour(palette.lips, 0.5), iod * 0.02, closed=True)


def draw_face_layer(
    face: np.ndarray, parts: HeadParts, palette: Palette, iod: float, hidden: np.ndarray, yaw: float
) -> None:
    """Skin features onto ``face`` (already filled with the skin colour)."""
    points = parts.landmarks
    for brow in parts.brows:
        fill_exact(face, brow, _colour(palette.brows))
    _draw_eye(face, points[36:42], parts.irises[0], parts.pupils[0], palette, iod)
    _draw_eye(face, points[42:48], parts.irises[1], parts.pupils[1], palette, iod)
    if abs(yaw) > 3:
        _fill(face, _hull(parts.nose_cover), _colour(palette.skin))
    if abs(yaw) > 12:  # the nose ridge against the far cheek
        _line(face, points[[28, 29, 30, 33]], _colour(palette.skin, 0.8), iod * 0.015)
    for nostril, ala, inner in zip(parts.nostrils, parts.alae, (32, 34), strict=True):
        if not hidden[inner]:
            _fill(face, nostril, _colour(palette.skin, 0.3))
            _line(face, ala, _colour(palette.skin, 0.75), iod * 0.018)
    _line(face, points[31:36], _colour(palette.skin, 0.72), iod * 0.02)
    _draw_mouth(face, points, palette, iod)
    if len(parts.fringe) >= 3:
        _fill(face, parts.fringe, _colour(palette.hair))


def shading_map(
    parts: HeadParts,
    to_model: np.ndarray,
    view: np.ndarray,
    shape: tuple[int, int],
    rng: np.random.Generator,
    smile: float,
) -> np.ndarray:
    """Per-pixel light (float32, about 0.3 to 1.2) for an image of ``shape`` (height, width).

    A lit ellipsoid approximates the face so the cheeks darken towards the contour; soft
    shadows (eye sockets, nose sides, under the nose and the lower lip, smile folds) and the
    nose highlight are drawn at a quarter of the resolution, blurred, and scaled up.
    ``to_model`` maps homogeneous pixel coordinates to viewed model x/y (2x3).
    """
    height, width = shape
    low_h, low_w = max(-(-height // 4), 4), max(-(-width // 4), 4)
    fy, fx = height / low_h, width / low_w
    gx = (np.arange(low_w) + 0.5) * fx - 0.5
    gy = (np.arange(low_h) + 0.5) * fy - 0.5
    mx = to_model[0, 0] * gx[None, :] + to_model[0, 1] * gy[:, None] + to_model[0, 2]
    my = to_model[1, 0] * gx[None, :] + to_model[1, 1] * gy[:, None] + to_model[1, 2]

    centre = view @ np.array([0.0, 0.25, -1.0])
    quadric = view @ np.diag(1.0 / np.array([1.2, 1.65, 0.95]) ** 2) @ view.T
    dx, dy = mx - centre[0], my - centre[1]
    a = quadric[2, 2]
    b = quadric[0, 2] * dx + quadric[1, 2] * dy
    c = quadric[0, 0] * dx * dx + 2 * quadric[0, 1] * dx * dy + quadric[1, 1] * dy * dy - 1.0
    dz = (np.sqrt(np.maximum(b * b - a * c, 0.0)) - b) / a
    normal = np.stack([dx, dy, dz], axis=-1) @ quadric
    light = np.array([rng.uniform(-1.2, 1.2), rng.uniform(-1.0, 0.5), 1.0])
    light /= np.linalg.norm(light)
    ambient = rng.uniform(0.35, 0.65)
    diffuse = np.maximum(normal @ light, 0.0) / (np.linalg.norm(normal, axis=-1) + 1e-9)
    shade = (ambient + (1 - ambient) * diffuse).astype(np.float32)

    marks = np.ones((low_h, low_w), np.float32)
    scale = np.array([fx, fy])
    points = (parts.landmarks + 0.5) / scale - 0.5
    brows = (parts.brows[:, :5] + 0.5) / scale - 0.5
    iod = float(np.hypot(*(points[36:42].mean(0) - points[42:48].mean(0))))
    down = points[8] - points[27]
    down = down / (np.hypot(*down) + 1e-9) * iod
    _fill(marks, np.concatenate([points[36:40], brows[0, ::-1] + down * 0.12]), 0.82)
    _fill(marks, np.concatenate([points[45:41:-1], brows[1, ::-1] + down * 0.12]), 0.82)
    for nose_side, side in (([31, 32], -1.0), ([35, 34], 1.0)):
        darkness = 0.8 if light[0] * side < 0 else 0.92
        _fill(marks, points[[27, 28, 29, 30, 33, *nose_side]], darkness)
    _fill(marks, np.concatenate([points[31:36], points[35:30:-1] + down * 0.08]), 0.75)
    _fill(marks, np.concatenate([points[55:60], points[59:54:-1] + down * 0.12]), 0.85)
    _fill(marks, points[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]], 0.9)
    if smile > 0.3:
        for nose, corner in ((31, 48), (35, 54)):
            fold = np.stack(
                [
                    points[nose] + (points[nose] - points[33]) * 0.3,
                    points[corner] + (points[corner] - points[51]) * 0.25,
                ]
            )
            _line(marks, fold, 0.8, max(1.0, 0.05 * iod))
    _line(marks, points[27:31], 1.12, max(1.0, 0.06 * iod))
    cv2.circle(
        marks,
        tuple(fixed(points[30])),
        int(max(0.5, 0.06 * iod) * 16),
        1.18,
        -1,
        cv2.LINE_AA,
        SHIFT,
    )
    marks = cv2.GaussianBlur(marks, (0, 0), max(0.6, 0.05 * iod))
    mottling = cv2.resize(
        rng.normal(1.0, 0.03, size=(6, 6)).astype(np.float32),
        (low_w, low_h),
        interpolation=cv2.INTER_LINEAR,
    )
    shade *= marks * mottling
    return cv2.resize(shade, (width, height), interpolation=cv2.INTER_LINEAR)


def draw_face_box(
    image_size: int,
    pixels: HeadParts,
    palette: Palette,
    scale: float,
    hidden: np.ndarray,
    yaw: float,
    to_model: np.ndarray,
    view: np.ndarray,
    rng: np.random.Generator,
    smile: float,
) -> tuple[tuple[slice, slice], np.ndarray, HeadParts, np.ndarray]:
    """The face layer drawn only in the box around the skin outline: the box's (rows, columns)
    slices of the image, the skin-filled face drawn in it (uint8), the parts in box pixels and
    the shading map (``to_model``: image pixels -> model units)."""
    low = np.clip(np.floor(pixels.face_outline.min(axis=0)) - 1, 0, image_size - 1).astype(int)
    high = np.clip(np.ceil(pixels.face_outline.max(axis=0)) + 2, 1, image_size).astype(int)
    (x0, y0), (x1, y1) = low, high
    origin = low.astype(np.float64)
    local = pixels.map(lambda p: p - origin)
    face = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    face[:] = np.round(palette.skin).astype(np.uint8)
    draw_face_layer(face, local, palette, scale, hidden, yaw)
    local_to_model = to_model.copy()
    local_to_model[:, 2] += to_model[:, :2] @ origin
    shade = shading_map(local, local_to_model, view, face.shape[:2], rng, smile)
    return (slice(y0, y1), slice(x0, x1)), face, local, shade
