"""``make demo`` section: several fields in one window (cavity flow) and image filters with boundary modes.

``run(out_dir)`` (a) solves the lid-driven cavity of ``examples.cfd_elliptic``
(fields ``{u, v, p}``, the notebook's 41 x 41 grid and 700 time steps), checks
it against the notebook's NumPy code, and draws the velocity field (speed
colour map + streamlines, pressure + arrows) into ``out_dir / "velocity.png"``;
(b) filters matplotlib's sample photograph ``grace_hopper.jpg`` in grayscale
with the seed's 25 x 25 mean blur (zero padding, ``padding='same'``) and a
Sobel edge magnitude with ``boundary='symmetric'``, compares both with
``scipy.ndimage`` when scipy is installed, and writes original, blur and edges
side by side into ``out_dir / "filters.png"``. It prints where it writes and
how long each computation takes (first call: tracing + compilation + run).
"""

from __future__ import annotations

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import kernex
from examples import cfd_elliptic

__all__ = ["run", "grayscale_photo", "mean_blur", "sobel_magnitude"]

CAVITY = {"nx": 41, "ny": 41, "nt": 700, "nit": 50}


def _timed(f, *args):
    """``(result, seconds)`` of ``f(*args)``, waiting for the result."""
    start = time.perf_counter()
    result = jax.block_until_ready(f(*args))
    return result, time.perf_counter() - start


def grayscale_photo() -> np.ndarray:
    """matplotlib's ``grace_hopper.jpg`` as a float32 grayscale image in ``[0, 1]`` (ITU-R 601 weights)."""
    import matplotlib.cbook
    import matplotlib.image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        rgb = matplotlib.image.imread(f, format="jpg")
    return (rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255


@jax.jit
@kernex.kmap(kernel_size=25, padding="same")
def mean_blur(x):
    """The seed's average blur: the mean of each 25 x 25 window, zeros outside the image."""
    return jnp.mean(x)


@jax.jit
@kernex.kmap(kernel_size=3, padding="same", relative=True, boundary="symmetric")
def sobel_magnitude(x):
    """``hypot(d/dy, d/dx)`` of the 3 x 3 Sobel operator; the image is mirrored at its edges."""
    gx = (x[-1, 1] + 2 * x[0, 1] + x[1, 1]) - (x[-1, -1] + 2 * x[0, -1] + x[1, -1])
    gy = (x[1, -1] + 2 * x[1, 0] + x[1, 1]) - (x[-1, -1] + 2 * x[-1, 0] + x[-1, 1])
    return jnp.sqrt(gx**2 + gy**2)


def _cavity(out_dir: pathlib.Path, plt) -> None:
    result, seconds = _timed(lambda: cfd_elliptic.cavity_kmap(**CAVITY))
    _, again = _timed(lambda: cfd_elliptic.cavity_kmap(**CAVITY))
    start = time.perf_counter()
    reference = cfd_elliptic.cavity_numpy(**CAVITY)
    numpy_seconds = time.perf_counter() - start
    u, v, p = result["u"], result["v"], result["p"]
    errors = ", ".join(f"{k} {np.max(np.abs(result[k] - reference[k])):.2e}" for k in ("u", "v", "p"))
    print(
        f"cavity flow {CAVITY['ny']}x{CAVITY['nx']}, {CAVITY['nt']} steps x {CAVITY['nit']} pressure sweeps, fields {{u, v, p}}:"
    )
    print(f"  kernex {seconds:.2f} s first call, {again:.2f} s again; NumPy {numpy_seconds:.2f} s")
    print(f"  max |kernex - NumPy|: {errors}; max speed {np.max(np.hypot(u, v)):.3f}")

    x, y = np.linspace(0, 2, CAVITY["nx"]), np.linspace(0, 2, CAVITY["ny"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2))
    speed = left.pcolormesh(x, y, np.hypot(u, v), cmap="viridis", shading="gouraud")
    left.streamplot(x, y, u, v, color="white", density=1.4, linewidth=0.8, arrowsize=0.8)
    fig.colorbar(speed, ax=left, label="speed |(u, v)|")
    left.set_title("speed and streamlines")
    pressure = right.contourf(x, y, p, levels=24, cmap="coolwarm")
    right.contour(x, y, p, levels=12, colors="k", linewidths=0.4)
    right.quiver(x[::2], y[::2], u[::2, ::2], v[::2, ::2], scale=12)
    fig.colorbar(pressure, ax=right, label="pressure p")
    right.set_title("pressure and velocity arrows")
    for ax in (left, right):
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_aspect("equal")
        ax.set_xlim(0, 2)
        ax.set_ylim(0, 2)
    fig.suptitle(f"Lid-driven cavity (lid u = 1 at y = 2) after {CAVITY['nt']} steps, kernex.kmap with fields {{u, v, p}}")
    path = out_dir / "velocity.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path}")


def _filters(out_dir: pathlib.Path, plt) -> None:
    image = grayscale_photo()
    x = jnp.asarray(image)
    blur, blur_first = _timed(mean_blur, x)
    _, blur_again = _timed(mean_blur, x)
    edges, sobel_first = _timed(sobel_magnitude, x)
    _, sobel_again = _timed(sobel_magnitude, x)
    blur, edges = np.asarray(blur), np.asarray(edges)
    print(f"image filters on grace_hopper.jpg, grayscale {image.shape[0]}x{image.shape[1]} float32:")
    print(f"  25x25 mean blur (padding='same', zeros outside): {blur_first:.2f} s first call, {blur_again * 1e3:.1f} ms again")
    print(f"  Sobel magnitude (boundary='symmetric'): {sobel_first:.2f} s first call, {sobel_again * 1e3:.1f} ms again")
    try:
        from scipy import ndimage
    except ImportError:
        print("  scipy is not installed: no comparison with scipy.ndimage")
    else:
        image64 = image.astype(np.float64)
        reference = np.hypot(ndimage.sobel(image64, axis=0, mode="reflect"), ndimage.sobel(image64, axis=1, mode="reflect"))
        uniform = ndimage.uniform_filter(image64, size=25, mode="constant", cval=0.0)
        print(f"  max |Sobel - hypot(scipy.ndimage.sobel(mode='reflect'))|: {np.max(np.abs(edges - reference)):.2e}")
        print(f"  max |blur - scipy.ndimage.uniform_filter(size=25, mode='constant')|: {np.max(np.abs(blur - uniform)):.2e}")

    fig, axes = plt.subplots(1, 3, figsize=(15, 6))
    panels = [
        (image, "original (grayscale)"),
        (blur, "kmap(kernel_size=25, padding='same')(jnp.mean)"),
        (edges, "Sobel magnitude, boundary='symmetric'"),
    ]
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img, cmap="gray", vmin=0, vmax=float(np.percentile(img, 99.5)) if img is edges else None)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    path = out_dir / "filters.png"
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    print(f"  wrote {path}")


def run(out_dir: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _cavity(out_dir, plt)
    _filters(out_dir, plt)
