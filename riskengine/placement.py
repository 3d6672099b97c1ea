"""Numbered markers placed apart on a picture: each incident's marker at its true position, or, when it
would cover another marker, a town or a label, at the nearest free spot nearby with a leader line back.

Everything is in display pixels, so the placement holds at the picture's scale whatever the map's
extent. Greedy and deterministic: markers are placed in order, each on the first ring of candidate
spots round its anchor that has a free one (the same input always gives the same picture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.transforms import Bbox

__all__ = ["Placement", "place_markers"]


@dataclass(frozen=True)
class Placement:
    """Where an incident's numbered marker is drawn, in display pixels (origin at the bottom left).

    ``anchor`` is the incident's true position. The marker's centre (``x``, ``y``) is the anchor, or a free
    spot nearby joined to the anchor by a leader line; ``clear`` is False when no free spot was in reach and
    the least crowded one was taken.
    """

    x: float
    y: float
    radius: float
    anchor: tuple[float, float]
    clear: bool = True

    @property
    def moved(self) -> bool:
        """Whether the marker is away from its true position (and needs a leader line)."""
        return math.dist((self.x, self.y), self.anchor) > 0.5

    @property
    def box(self) -> Bbox:
        """The square around the marker's circle."""
        return Bbox.from_extents(self.x - self.radius, self.y - self.radius, self.x + self.radius,
                                 self.y + self.radius)


def _rings(anchor: np.ndarray, radius: float, first: float, rings: int):
    """The anchor, then points on ``rings`` circles around it, ``radius / 2`` apart: one array per ring, each
    from the top clockwise."""
    yield anchor[None, :]
    for k in range(rings):
        reach = first + k * radius / 2
        angles = math.pi / 2 - np.arange(n := max(8, math.ceil(2 * math.pi * reach / (radius / 2)))) * 2 * math.pi / n
        yield anchor + reach * np.column_stack([np.cos(angles), np.sin(angles)])


def _to_segments(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Distances from each of ``points`` (N, 2) to each segment ``starts[j]``-``ends[j]`` (M, 2): (N, M)."""
    d = ends - starts
    t = np.einsum("nmk,mk->nm", points[:, None, :] - starts[None], d) / np.maximum((d * d).sum(1), 1e-9)
    nearest = starts[None] + np.clip(t, 0, 1)[..., None] * d[None]
    return np.linalg.norm(points[:, None, :] - nearest, axis=2)


def _in_boxes(points: np.ndarray, boxes: np.ndarray, margin: float, square: bool = False) -> np.ndarray:
    """Whether each point (..., 2) is within ``margin`` of any box (M, 4 extents): (...); a ``square`` margin
    keeps a square of half-side ``margin`` around the point off the boxes (not just a circle)."""
    if not len(boxes):
        return np.zeros(points.shape[:-1], bool)
    x, y = points[..., 0, None], points[..., 1, None]
    dx = np.maximum(np.maximum(boxes[:, 0] - x, x - boxes[:, 2]), 0)
    dy = np.maximum(np.maximum(boxes[:, 1] - y, y - boxes[:, 3]), 0)
    return ((np.maximum(dx, dy) if square else np.hypot(dx, dy)) < margin).any(-1)


def _within(points: np.ndarray, circles: np.ndarray, margin: float) -> np.ndarray:
    """How many circles (M, 3: x, y, r) each point (..., 2) is within ``margin`` of: (...)."""
    if not len(circles):
        return np.zeros(points.shape[:-1], int)
    dist = np.linalg.norm(points[..., None, :] - circles[:, :2], axis=-1)
    return (dist < circles[:, 2] + margin).sum(-1)


def _crossings(start: np.ndarray, ends: np.ndarray, segments: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """How many of ``segments`` (start, end pairs) each segment from ``start`` to one of ``ends`` (N, 2) crosses;
    segments from the same start fan out from it and do not count."""
    others = [(a, b) for a, b in segments if math.dist(a, start) > 0.5]
    if not others:
        return np.zeros(len(ends), int)
    a, b = (np.array(v) for v in zip(*others, strict=True))

    def turn(p, q, r):  # +1 left, -1 right of p -> q
        (u, v), (w, z) = np.moveaxis(q - p, -1, 0), np.moveaxis(r - p, -1, 0)
        return np.sign(u * z - v * w)

    q = ends[:, None, :]
    return ((turn(start, q, a[None]) * turn(start, q, b[None]) < 0)
            & (turn(a[None], b[None], start) * turn(a[None], b[None], q) < 0)).sum(1)


class _Field:
    """What markers must keep clear of, growing as markers are placed; judges candidate spots."""

    def __init__(self, anchors: np.ndarray, radius: float, frame: Bbox, dots, boxes, line, gap: float,
                 anchor_radius: float):
        self.anchors, self.radius, self.gap, self.anchor_radius = anchors, radius, gap, anchor_radius
        self.inner = frame.extents + np.array([1, 1, -1, -1]) * (radius + gap)
        self.dots = np.asarray(dots, float).reshape(-1, 3)
        self.boxes = np.array([b.extents for b in boxes], float).reshape(-1, 4)
        self.route = np.asarray(line, float).reshape(-1, 2)
        self.markers = np.zeros((0, 3))
        self.leaders: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, spot: Placement) -> None:
        self.markers = np.vstack([self.markers, [(spot.x, spot.y, spot.radius)]])
        if spot.moved:
            self.leaders.append((np.array(spot.anchor), np.array((spot.x, spot.y))))

    def judge(self, i: int, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each candidate centre of marker ``i``: how many things it clashes with, and its cost."""
        anchor, reach = self.anchors[i], self.radius + self.gap
        x0, y0, x1, y1 = self.inner
        clash = ((cand[:, 0] < x0) | (cand[:, 0] > x1) | (cand[:, 1] < y0) | (cand[:, 1] > y1)).astype(int)
        others = np.column_stack([np.delete(self.anchors, i, axis=0), np.full(len(self.anchors) - 1,
                                                                              self.anchor_radius)])
        clash += _within(cand, self.markers, reach) + _within(cand, self.dots, reach) + _within(cand, others, reach)
        clash += _in_boxes(cand, self.boxes, reach, square=True)
        if self.leaders:
            starts, ends = (np.array(v) for v in zip(*self.leaders, strict=True))
            clash += (_to_segments(cand, starts, ends) < reach).sum(1)
        # the candidate's own leader line, from the anchor dot's edge to the marker's edge
        dist = np.linalg.norm(cand - anchor, axis=1)
        unit = (cand - anchor) / np.maximum(dist, 1e-9)[:, None]
        start, end = anchor + unit * self.anchor_radius, cand - unit * self.radius
        samples = start[:, None, :] + np.linspace(0, 1, 24)[None, :, None] * (end - start)[:, None, :]
        away = self.dots[np.hypot(*(self.dots[:, :2] - anchor).T) > self.dots[:, 2]]
        crossed = _within(samples, self.markers, 1.0) + _within(samples, away, 1.0)
        clash += np.where(dist > 0.5, (crossed + _in_boxes(samples, self.boxes, 1.0)).sum(1), 0)
        cover = (np.linalg.norm(self.route[:, None, :] - cand[None], axis=2) < self.radius).sum(0)
        cost = dist + 1.5 * cover + self.radius * _crossings(anchor, cand, self.leaders)
        return clash, np.where(dist > 0.5, cost, 0.0)  # a marker with nothing in its way stays where it is


def place_markers(anchors: Sequence[tuple[float, float]], radius: float, *, frame: Bbox,
                  dots: Sequence[tuple[float, float, float]] = (), boxes: Sequence[Bbox] = (),
                  line: Sequence[tuple[float, float]] = (), gap: float = 3.0, anchor_radius: float = 3.0,
                  leader: float = 10.0, rings: int = 16) -> list[Placement]:
    """Place numbered markers so that none hides another, a town or its label: greedily, in display pixels.

    Each marker in turn (in the order of ``anchors``, the most important first) stays at its anchor when
    nothing is there, else goes to the nearest free candidate on rings around it. A spot is free when the
    marker's circle stays inside ``frame`` and keeps ``gap`` away from every marker already placed, every town
    dot, every box (its square, not only its circle), every other incident's anchor and every leader line
    already drawn, and when its own leader line crosses no marker, box or town dot but the one at its anchor.
    Several incidents at one spot all move around it, so their common anchor stays in sight. Between free
    spots about as near, the one covering fewer points of ``line`` (the route) and crossing fewer leader lines
    wins. No randomness: the same input gives the same placement.

    Parameters
    ----------
    anchors
        The incidents' true positions, (x, y) pixels.
    radius
        A marker's radius in pixels, its edge included.
    frame
        The area markers must stay inside (the map's axes).
    dots
        Town dots, (x, y, r) circles.
    boxes
        Other things to keep clear of: town labels.
    line
        Points along the route, better left uncovered.
    gap
        The clearance between a marker and anything else, pixels.
    anchor_radius
        The radius of the dot drawn at a moved marker's true position.
    leader
        The shortest leader line left in sight between that dot (or the town dot around it) and the marker.
    rings
        How many rings of candidates to try around an anchor before taking the least crowded spot.

    Returns
    -------
    list of Placement
        One per anchor, in order.

    Examples
    --------
    >>> frame = Bbox.from_extents(0, 0, 400, 400)
    >>> a, b = place_markers([(200, 200), (200, 200)], 20, frame=frame)
    >>> a.moved, b.moved, math.dist((a.x, a.y), (b.x, b.y)) >= 40
    (True, True, True)
    >>> place_markers([(100, 100)], 20, frame=frame)[0].moved
    False
    """
    points = np.asarray(anchors, float).reshape(-1, 2)
    field = _Field(points, radius, frame, dots, boxes, line, gap, anchor_radius)
    placed: list[Placement] = []
    for i, anchor in enumerate(points):
        inside = [r for x, y, r in field.dots if math.dist((x, y), anchor) <= r]  # the town it is in, if any
        best, tried = None, []
        for cand in _rings(anchor, radius, radius + leader + max([anchor_radius, *inside]), rings):
            clash, cost = field.judge(i, cand)
            tried.append((cand, clash, np.linalg.norm(cand - anchor, axis=1)))
            if (clash == 0).any():
                k = int(np.argmin(np.where(clash == 0, cost, np.inf)))
                best = min(best or (cost[k], cand[k]), (cost[k], cand[k]), key=lambda t: t[0])
            if best is not None and best[0] <= tried[-1][2].min():
                break  # no spot farther out can cost less than this one (a cost is at least the distance)
        if best is None:  # nothing free in reach: the spot with the fewest clashes, then the nearest
            cand, clash, dist = (np.concatenate(v) for v in zip(*tried, strict=True))
            best = (None, cand[int(np.lexsort((dist, clash))[0])])
        spot = Placement(float(best[1][0]), float(best[1][1]), radius, (float(anchor[0]), float(anchor[1])),
                         best[0] is not None)
        field.add(spot)
        placed.append(spot)
    return placed
