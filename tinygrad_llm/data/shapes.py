r"""Shapes: a generated image–text data set for vision-language models, rendered here with NumPy.

A scene is one to three objects on a dark background. An object has a shape (circle, square, triangle,
cross), a colour (red, green, blue, yellow, purple), a size (small, large) and a position; within a scene
the colours are all different and so are the shapes, so "the red object" and "the circle" name one
object. Images are $32 \times 32$ RGB (``image_size``), drawn with $4 \times 4$ supersampling (edges are
anti-aliased, like a plotting library's), with a little colour jitter and pixel noise.

Text is generated from the scene's description, so it is always right:

- a **caption** lists the objects: one ``a large red circle``; two, with their relation along the
  axis on which they are further apart, ``a small blue square left of a large red circle`` or
  ``... above ...``; three, left to right, ``a large red circle , a small blue cross and a small green square``;
- **questions** of six types with one-word answers: ``shape`` (what shape is the red object ?),
  ``colour`` (what colour is the circle ?), ``size``, ``count`` (how many objects are there ?),
  ``exists`` (is there a blue square ? yes / no) and ``relation`` (is the red circle left of the blue
  square ? yes / no).

Positions are drawn so that every relation a caption or question states is clear: objects do not
overlap, and the offsets that decide "left of" or "above" are at least ``MIN_GAP`` pixels.

**Splits** (``build_splits``). Four colour–shape pairs (``HELD_OUT``: red triangle, green circle, blue
cross, yellow square) never occur in the training scenes, although each of those colours and shapes
occurs with other partners. ``train`` and ``test`` draw from the other sixteen pairs (``test`` = new
scenes); ``unseen`` scenes each hold at least one held-out pair, so a model that captions them right has
composed a colour and a shape it has only seen apart (compositional generalisation). Everything is a
pure function of the seed.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = {"red": (220, 45, 45), "green": (50, 185, 65), "blue": (55, 95, 235), "yellow": (230, 205, 50),
           "purple": (165, 65, 205)}
SIZES = {"small": 4.5, "large": 7.0}          # half of the object's extent, in pixels
HELD_OUT = (("red", "triangle"), ("green", "circle"), ("blue", "cross"), ("yellow", "square"))
SEEN = tuple(p for p in itertools.product(COLOURS, SHAPES) if p not in HELD_OUT)
QUESTION_TYPES = ("shape", "colour", "size", "count", "exists", "relation")
COUNT_WORDS = ("zero", "one", "two", "three")
MIN_GAP = 3.0                                  # pixels between centres along the axis a relation is about
N_OBJECTS_P = (0.2, 0.4, 0.4)                 # probability of 1, 2, 3 objects


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    x: float                                   # centre, pixels from the left
    y: float                                   # centre, pixels from the top

    @property
    def words(self) -> str:
        return f"{self.size} {self.colour} {self.shape}"

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass
class Scene:
    objects: tuple
    image_size: int = 32
    qa: list = field(default_factory=list)     # (type, question, answer)

    @property
    def caption(self) -> str:
        return caption(self.objects)


# ----------------------------------------------------------------------------- text
def relation(a: Obj, b: Obj) -> str:
    """How ``a`` relates to ``b`` along the axis on which they are further apart: 'left of', 'right of',
    'above' or 'below'."""
    dx, dy = b.x - a.x, b.y - a.y
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


def caption(objects) -> str:
    """The scene's one correct caption (see the module docstring for the three forms)."""
    objs = sorted(objects, key=lambda o: o.x)
    if len(objs) == 1:
        return f"a {objs[0].words}"
    if len(objs) == 2:
        a, b = objs
        if relation(a, b) != "left of":                       # vertical relation: the upper one first
            a, b = sorted(objs, key=lambda o: o.y)
        return f"a {a.words} {relation(a, b)} a {b.words}"
    return " , ".join(f"a {o.words}" for o in objs[:-1]) + f" and a {objs[-1].words}"


def questions(objects, rng, pairs=SEEN) -> list:
    """One question of every type that the scene supports, as (type, question, answer). ``pairs`` are the
    colour–shape pairs a negative 'exists' question may ask about."""
    objs = list(objects)
    o = objs[rng.integers(len(objs))]
    qa = [("shape", f"what shape is the {o.colour} object ?", o.shape),
          ("colour", f"what colour is the {o.shape} ?", o.colour),
          ("size", f"what size is the {o.name} ?", o.size),
          ("count", "how many objects are there ?", COUNT_WORDS[len(objs)])]
    present = {(p.colour, p.shape) for p in objs}
    if rng.random() < 0.5:
        qa.append(("exists", f"is there a {o.name} ?", "yes"))
    else:
        absent = [p for p in pairs if p not in present]
        c, s = absent[rng.integers(len(absent))]
        qa.append(("exists", f"is there a {c} {s} ?", "no"))
    clear = [(a, b, r) for a, b in itertools.permutations(objs, 2) for r in ("left of", "above")
             if (abs(b.x - a.x) if r == "left of" else abs(b.y - a.y)) >= MIN_GAP]
    if clear:
        a, b, r = clear[rng.integers(len(clear))]
        truth = (b.x > a.x) if r == "left of" else (b.y > a.y)
        qa.append(("relation", f"is the {a.name} {r} the {b.name} ?", "yes" if truth else "no"))
    return qa


def vocabulary() -> list[str]:
    """Every word captions, questions and answers use, sorted."""
    words = {"a", "and", ",", "?", "left", "of", "above", "what", "shape", "is", "the",
             "object", "colour", "size", "how", "many", "objects", "are", "there", "yes", "no"}
    words |= set(SHAPES) | set(COLOURS) | set(SIZES) | set(COUNT_WORDS[1:])
    return sorted(words)


# ----------------------------------------------------------------------------- scenes
def _fits(objs, o) -> bool:
    pad = 1.0
    for p in objs:
        gap = SIZES[p.size] + SIZES[o.size] + pad
        if abs(p.x - o.x) < gap and abs(p.y - o.y) < gap:
            return False                                        # bounding boxes overlap
    if len(objs) == 1:                                          # two objects: their relation is clear
        dx, dy = abs(objs[0].x - o.x), abs(objs[0].y - o.y)
        if abs(dx - dy) < MIN_GAP:
            return False
    if any(abs(p.x - o.x) < MIN_GAP for p in objs):             # left-to-right order is clear
        return False
    return True


def sample_scene(rng, pairs=SEEN, n_objects: int | None = None, image_size: int = 32, must_include=None) -> Scene:
    """A random scene of objects with distinct colours and distinct shapes, all (colour, shape) in ``pairs``
    (``must_include``: pairs of which at least one must appear)."""
    pairs = list(pairs)
    while True:
        n = int(n_objects or rng.choice([1, 2, 3], p=N_OBJECTS_P))
        chosen = []
        if must_include:
            chosen.append(tuple(must_include[rng.integers(len(must_include))]))
        while len(chosen) < n:
            free = [p for p in pairs if all(p[0] != c[0] and p[1] != c[1] for c in chosen)]
            if not free:
                break
            chosen.append(free[rng.integers(len(free))])
        if len(chosen) < n:
            continue
        rng.shuffle(chosen)
        objs = []
        for colour, shape in chosen:
            size = ("small", "large")[rng.integers(2)]
            r = SIZES[size]
            for _ in range(50):
                o = Obj(shape, colour, size, float(rng.uniform(r + 0.5, image_size - r - 0.5)),
                        float(rng.uniform(r + 0.5, image_size - r - 0.5)))
                if _fits(objs, o):
                    objs.append(o)
                    break
            else:
                break
        if len(objs) == n:
            return Scene(tuple(objs), image_size)


# ----------------------------------------------------------------------------- pixels
def coverage(shape: str, dx, dy, r: float):
    """Whether sample points at offsets (dx, dy) from the centre lie inside a ``shape`` of half-extent ``r``."""
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        h = 0.85 * r
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if shape == "triangle":                                    # apex up, base down
        return (dy >= -r) & (dy <= 0.8 * r) & (np.abs(dx) <= (dy + r) * 0.6)
    if shape == "cross":
        t = r / 3
        return ((np.abs(dx) <= r) & (np.abs(dy) <= t)) | ((np.abs(dy) <= r) & (np.abs(dx) <= t))
    raise ValueError(f"unknown shape {shape!r} (known: {', '.join(SHAPES)})")


def render(scene: Scene, rng=None, supersample: int = 4, noise: float = 4.0, jitter: int = 15) -> np.ndarray:
    """The scene as uint8 RGB pixels (H, W, 3): per pixel the covered fraction of ``supersample``^2 sample
    points blends the object colour over the background. ``rng`` adds colour jitter and pixel noise."""
    S, s = scene.image_size, supersample
    img = np.full((S, S, 3), 12.0)
    for o in scene.objects:
        r = SIZES[o.size]
        x0, x1 = max(0, int(o.x - r) - 1), min(S, int(o.x + r) + 2)
        y0, y1 = max(0, int(o.y - r) - 1), min(S, int(o.y + r) + 2)
        sub = (np.arange(s) + 0.5) / s
        xs = (np.arange(x0, x1)[:, None] + sub[None, :]).reshape(-1) - o.x     # sample points, pixel units
        ys = (np.arange(y0, y1)[:, None] + sub[None, :]).reshape(-1) - o.y
        inside = coverage(o.shape, xs[None, :], ys[:, None], r)               # (rows * s, cols * s)
        alpha = inside.reshape(y1 - y0, s, x1 - x0, s).mean(axis=(1, 3))[..., None]
        colour = np.array(COLOURS[o.colour], float)
        if rng is not None and jitter:
            colour = np.clip(colour + rng.integers(-jitter, jitter + 1, 3), 0, 255)
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - alpha) + colour * alpha
    if rng is not None and noise:
        img += rng.normal(0.0, noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- splits
@dataclass
class ShapesSplit:
    """Scenes with their pixels (N, H, W, 3) uint8, captions and question-answer lists."""
    name: str
    scenes: list
    images: np.ndarray

    def __len__(self):
        return len(self.scenes)

    @property
    def captions(self) -> list[str]:
        return [s.caption for s in self.scenes]


def make_split(name: str, n: int, seed: int, pairs=SEEN, must_include=None, qa_pairs=SEEN, image_size: int = 32
               ) -> ShapesSplit:
    rng = np.random.default_rng(seed)
    scenes, images = [], np.empty((n, image_size, image_size, 3), np.uint8)
    for i in range(n):
        sc = sample_scene(rng, pairs, image_size=image_size, must_include=must_include)
        sc.qa = questions(sc.objects, rng, qa_pairs)
        images[i] = render(sc, rng)
        scenes.append(sc)
    return ShapesSplit(name, scenes, images)


def build_splits(n_train: int = 20000, n_test: int = 1000, n_unseen: int = 1000, seed: int = 0,
                 image_size: int = 32) -> dict[str, ShapesSplit]:
    """``train`` and ``test`` (seen colour–shape pairs only, different scenes) and ``unseen`` (every scene
    holds a held-out pair); each split has its own seed derived from ``seed``."""
    everything = tuple(itertools.product(COLOURS, SHAPES))
    return {"train": make_split("train", n_train, seed * 3 + 1, image_size=image_size),
            "test": make_split("test", n_test, seed * 3 + 2, image_size=image_size),
            "unseen": make_split("unseen", n_unseen, seed * 3 + 3, pairs=everything, must_include=HELD_OUT,
                                 qa_pairs=everything, image_size=image_size)}
