r"""PNG images in and out, through Pillow, trusting nothing the file says about itself.

Reading (``read_png``) checks, in this order, and fails with one ``ImageError`` line naming the problem:

1. the file exists and starts with the PNG signature (``\x89PNG\r\n\x1a\n``) — anything else is "not a
   PNG", whatever its name;
2. the size the header declares is at most ``max_pixels`` (default $4096^2$) *before* any pixel is
   decoded, and warnings of Pillow's decompression-bomb guard are errors, so a small file cannot make us
   allocate gigabytes; when a ``size`` is required, the declared size must be it;
3. the colour mode has three colour channels: RGB, RGBA (every pixel opaque: what matplotlib saves)
   or a palette (converted to RGBA, then the same check); grey or grey + alpha images are refused;
4. the decoded array really has the declared height and width (a truncated or corrupt stream is a
   decoding error, never a short array).

The result is always uint8 pixels $(H, W, 3)$. ``write_png`` saves such an array atomically (``atomic.py``).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from .atomic import atomic_write

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 4096 * 4096
CHANNELS = {"1": 1, "L": 1, "P": 3, "LA": 2, "I": 1, "I;16": 1, "I;16B": 1, "F": 1, "RGB": 3, "RGBA": 4}


class ImageError(ValueError):
    """An image file that is missing, not a PNG, too large, of the wrong size or channels, or corrupt."""


def read_png(path, size: int | tuple | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The RGB pixels (H, W, 3) uint8 of a PNG file; ``size`` (side, or (width, height)) is required if given."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    with path.open("rb") as f:
        if f.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            raise ImageError(f"{path}: not a PNG image (the file does not start with the PNG signature)")
    want = None if size is None else (size, size) if isinstance(size, int) else tuple(size)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=["PNG"]) as im:
                w, h = im.size                                   # what the header declares
                if w * h > max_pixels:
                    raise ImageError(f"{path}: the header declares {w}x{h} pixels, more than the {max_pixels} "
                                     f"this reader accepts")
                if want is not None and (w, h) != want:
                    raise ImageError(f"{path}: the image is {w}x{h} pixels, the model reads {want[0]}x{want[1]}")
                n = CHANNELS.get(im.mode)
                if n not in (3, 4):
                    raise ImageError(f"{path}: expected an RGB image (3 colour channels), got mode {im.mode} "
                                     f"({n if n else 'unknown'} channel{'s' if n != 1 else ''})")
                im.load()                                        # decode now, inside the guards
                if im.mode == "P":
                    im = im.convert("RGBA")
                a = np.asarray(im)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, UnidentifiedImageError) as e:
        raise ImageError(f"{path}: cannot decode the PNG ({e})") from None
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[:2] != (h, w) or a.shape[2] not in (3, 4):
        raise ImageError(f"{path}: decoded pixels of shape {a.shape} {a.dtype}, expected ({h}, {w}, 3) uint8")
    if a.shape[2] == 4:
        if (a[..., 3] != 255).any():
            raise ImageError(f"{path}: the image has transparent pixels; save it without transparency (RGB)")
        a = a[..., :3]
    return np.ascontiguousarray(a)


def write_png(path, pixels) -> Path:
    """Save uint8 pixels (H, W, 3) as an RGB PNG, atomically."""
    from PIL import Image

    a = np.asarray(pixels)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"write_png: expected uint8 pixels (H, W, 3), got {a.shape} {a.dtype}")
    buf = io.BytesIO()
    Image.fromarray(a, "RGB").save(buf, format="PNG")
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return Path(path)
