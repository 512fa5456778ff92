"""Generated shapes and textures: a built-in image task harder than digits, with no download.

Each image is one foreground figure (its class) at a random position, scale, rotation and
colour, over a colour gradient with a fragment of another figure behind it, plus pixel noise.
Drawing is plain vectorised numpy from ``np.random.default_rng(seed)``: only uniform draws
(``Generator.random``) are used, normals come from Box-Muller, and the images are rounded to
8-bit levels, so the same seed gives the same bytes in every process.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["SHAPE_CLASSES", "shapes_arrays"]

#: what each class draws, in label order
SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "cross",
    "ring",
    "star",
    "stripes",
    "checker",
    "dots",
    "crescent",
    "tee",
    "frame",
)

_Field = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _f64(fn: Callable[..., np.ndarray], *args: np.ndarray) -> np.ndarray:
    """A transcendental ``fn`` evaluated in float64, returned as float32.

    numpy's float32 sin/cos/arctan2 have SIMD kernels that differ by an ulp or so between CPUs,
    enough to move a pixel across an 8-bit level; float64 differences are far too small to.
    Arithmetic and sqrt are correctly rounded in float32 and stay float32."""
    return fn(*(a.astype(np.float64) for a in args)).astype(np.float32)


def _smooth(d: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] of a signed distance ``d`` (negative inside), about one pixel soft."""
    return np.clip(0.5 - d / edge, 0.0, 1.0)


def _box(u: np.ndarray, v: np.ndarray, hu: float, hv: float) -> np.ndarray:
    return np.maximum(np.abs(u) - hu, np.abs(v) - hv)


def _patch(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The disc textures fill: radius 1."""
    return np.sqrt(u * u + v * v) - 1.0


def _signed(cls: int, u: np.ndarray, v: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Signed distance-like field of class ``cls`` in local coordinates (negative inside)."""
    rho = np.sqrt(u * u + v * v)
    if cls == 0:  # circle
        return rho - 0.9
    if cls == 1:  # square
        return _box(u, v, 0.75, 0.75)
    if cls == 2:  # triangle: three half-planes
        return np.maximum.reduce([-v, 0.866 * u + 0.5 * v, -0.866 * u + 0.5 * v]) - 0.45
    if cls == 3:  # cross
        return np.minimum(_box(u, v, 0.22, 0.9), _box(u, v, 0.9, 0.22))
    if cls == 4:  # ring
        return np.abs(rho - 0.7) - 0.17
    if cls == 5:  # five-pointed star
        phi = _f64(np.arctan2, v, u)
        return rho - (0.6 + 0.35 * _f64(np.cos, 5.0 * phi))
    if cls == 6:  # stripes
        return np.maximum(_patch(u, v), _f64(np.sin, freq * u) * 0.15)
    if cls == 7:  # checker
        return np.maximum(_patch(u, v), _f64(np.sin, freq * u) * _f64(np.sin, freq * v) * 0.15)
    if cls == 8:  # dots on a grid
        return np.maximum(
            _patch(u, v), (_f64(np.cos, freq * u) * _f64(np.cos, freq * v) - 0.5) * -0.15
        )
    if cls == 9:  # crescent: a disc less a shifted disc
        return np.maximum(rho - 0.9, 0.7 - np.sqrt((u - 0.4) ** 2 + v * v))
    if cls == 10:  # tee
        return np.minimum(_box(u, v - 0.6, 0.85, 0.2), _box(u, v + 0.1, 0.2, 0.8))
    if cls == 11:  # hollow square frame
        return np.maximum(_box(u, v, 0.8, 0.8), -_box(u, v, 0.5, 0.5))
    raise ValueError(f"no shape class {cls}")  # pragma: no cover - callers check the range


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals by Box-Muller from uniform draws (a stream stable across numpy)."""
    n = int(np.prod(shape))
    u1 = rng.random((n + 1) // 2)
    u2 = rng.random((n + 1) // 2)
    r = np.sqrt(-2.0 * np.log1p(-u1))
    z = np.concatenate([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)])
    return z[:n].reshape(shape)


def _draw(
    labels: np.ndarray,
    rng: np.random.Generator,
    size: int,
    *,
    scale: tuple[float, float],
    spread: float,
) -> np.ndarray:
    """Coverage masks (N, size, size) of each label's figure at a random pose."""
    n = len(labels)

    def uniform(lo: float, hi: float) -> np.ndarray:
        # float32 fields: half the memory traffic of float64 (transcendentals: see _f64)
        return (lo + rng.random(n) * (hi - lo)).astype(np.float32)

    cx, cy = uniform(-spread, spread), uniform(-spread, spread)
    r, theta, freq = uniform(*scale), uniform(0.0, 2 * np.pi), uniform(7.0, 11.0)
    grid = ((np.arange(size) + 0.5) / size * 2 - 1).astype(np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    masks = np.zeros((n, size, size), dtype=np.float32)
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        dx = xx[None] - cx[idx, None, None]
        dy = yy[None] - cy[idx, None, None]
        c = _f64(np.cos, theta[idx])[:, None, None]
        s = _f64(np.sin, theta[idx])[:, None, None]
        rr = r[idx, None, None]
        u = (dx * c + dy * s) / rr
        v = (-dx * s + dy * c) / rr
        d = _signed(int(cls), u, v, freq[idx, None, None])
        masks[idx] = _smooth(d, np.float32(2.0) / (size * rr))
    return masks


def shapes_arrays(
    samples: int, classes: int, image_size: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``samples`` images (N, 3, S, S) float32 in [0, 1] and their labels, balanced over the
    first ``classes`` of :data:`SHAPE_CLASSES`."""
    rng = np.random.default_rng(seed)
    n, size = samples, image_size
    # balanced labels in a seeded order
    y = (np.arange(n) % classes)[np.argsort(rng.random(n), kind="stable")]
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    # background: a colour with a linear gradient in a random direction
    bg = rng.random((n, 3))
    gdir = rng.random(n) * 2 * np.pi
    gamp = (rng.random((n, 3)) * 2 - 1) * 0.35
    ramp = np.cos(gdir)[:, None, None] * xx + np.sin(gdir)[:, None, None] * yy
    img = bg[:, :, None, None] + gamp[:, :, None, None] * ramp[:, None]
    # clutter: a fragment (cut by a random half-plane) of another class's figure
    other = (y + 1 + (rng.random(n) * (len(SHAPE_CLASSES) - 1)).astype(np.int64)) % len(
        SHAPE_CLASSES
    )
    frag = _draw(other, rng, size, scale=(0.25, 0.45), spread=0.9)
    cdir = rng.random(n) * 2 * np.pi
    coff = (rng.random(n) * 2 - 1) * 0.5
    cut = np.cos(cdir)[:, None, None] * xx + np.sin(cdir)[:, None, None] * yy
    frag *= cut > coff[:, None, None]
    frag_col = rng.random((n, 3))
    frag = frag[:, None] * (0.3 + 0.3 * rng.random(n))[:, None, None, None]
    img = img * (1 - frag) + frag_col[:, :, None, None] * frag
    # the figure: a colour at least 0.3 away from the background's in every channel
    fg = (bg + 0.3 + rng.random((n, 3)) * 0.4) % 1.0
    mask = _draw(y, rng, size, scale=(0.45, 0.75), spread=0.3)[:, None]
    img = img * (1 - mask) + fg[:, :, None, None] * mask
    img = img + noise * _normal(rng, img.shape)
    # 8-bit levels, as a camera would store them: also keeps the bytes stable
    x = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.float32) / np.float32(255.0)
    return x, y.astype(np.int64)
