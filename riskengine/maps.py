"""A phone-sized picture of a route: its segments coloured by level, its towns and the incidents that weigh.

A PNG drawn on matplotlib's Agg canvas (no screen needed); the numbered markers are kept apart
(:mod:`riskengine.placement`). The interactive map is the offline page of :mod:`riskengine.web.offline_map`,
which takes its colours from here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import patheffects, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox
from shapely import wkt

from .engine import RiskEngine
from .placement import place_markers

#: One colour per level, 1 Insignificant to 5 Extreme.
LEVEL_COLOURS = {1: "#2e7d32", 2: "#f9a825", 3: "#ef6c00", 4: "#c62828", 5: "#6a1b9a"}
#: South-west and north-east corners (lat, lon) of Libya.
LIBYA_BOUNDS = [[19.5, 9.3], [33.3, 25.2]]


def incident_point(row: pd.Series, engine: RiskEngine) -> tuple[float, float] | None:
    """Where to draw an incident, as (lat, lon); None if it has no location.

    Parameters
    ----------
    row : pandas.Series
        An event, a row of ``Store.events_frame()``: its point if it has one, else the middle of
        its stretch of road (``segments``, whose geometry ``engine`` knows), else a point inside its area.
    engine : RiskEngine
    """
    if pd.notna(row.get("lat")) and pd.notna(row.get("lon")):
        return float(row["lat"]), float(row["lon"])
    if segments := list(row.get("segments") or []):
        mid = engine.network.segment(segments[len(segments) // 2]).geometry.interpolate(0.5, normalized=True)
        return mid.y, mid.x
    if isinstance(row.get("geometry_wkt"), str) and row["geometry_wkt"]:
        inside = wkt.loads(row["geometry_wkt"]).representative_point()
        return inside.y, inside.x
    return None


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")


def _day(date: str) -> str:
    return dt.date.fromisoformat(date).strftime("%d %b").lstrip("0")


def _short_label(inc: dict) -> str:
    """A marker's label: its date and kind in a few words, e.g. ``14 Nov ambush``."""
    kind = inc["tags"][0].replace("_", " ") if inc["tags"] else (inc["sub_event_type"] or inc["event_type"])
    return f"{_day(inc['date'])} {textwrap.shorten(kind, 18, placeholder='…')}"


class _Labels:
    """Puts each label beside its point where it overlaps no other label, marker, route or the map's edge."""

    DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]

    def __init__(self, ax):
        self.ax, self.renderer = ax, ax.figure.canvas.get_renderer()
        self.frame, self.taken = ax.get_window_extent(self.renderer), []

    def block(self, xs, ys, size_pt: float, line: bool = False) -> None:
        """Keep labels off these points (squares of ``size_pt``), or off the ``line`` through them."""
        pts = list(self.ax.transData.transform(list(zip(xs, ys, strict=True))))
        if line:
            pts = [p0 + (p1 - p0) * k / n for p0, p1 in itertools.pairwise(pts)
                   for n in [max(1, int(math.dist(p0, p1) / 6))] for k in range(n + 1)]
        r = size_pt * self.ax.figure.dpi / 72 / 2
        self.taken += [Bbox.from_extents(x - r, y - r, x + r, y + r) for x, y in pts]

    def _cost(self, box: Bbox) -> float:
        area = lambda b: 0.0 if b is None else b.width * b.height  # noqa: E731
        clash = sum(area(Bbox.intersection(box, other)) for other in self.taken if box.overlaps(other))
        return clash + 4 * (area(box) - area(Bbox.intersection(box, self.frame)))

    def block_px(self, boxes: Sequence[Bbox]) -> None:
        """Keep labels off these boxes (display pixels)."""
        self.taken += list(boxes)

    def place(self, text: str, lon: float, lat: float, gap: float, optional: bool = False, **style) -> Bbox | None:
        """Label a point, farther with a leader line if need be; an ``optional`` label only where it fits.

        Returns the label's box in display pixels, or None when an ``optional`` label did not fit."""
        tries = []
        for reach, (dx, dy) in itertools.product((1.0, 2.5, 4.0, 5.5), self.DIRECTIONS):
            kw = {"xytext": (dx * gap * reach, dy * gap * reach), "ha": {1: "left", -1: "right", 0: "center"}[dx],
                  "va": {1: "bottom", -1: "top", 0: "center"}[dy]}
            label = self.ax.annotate(text, (lon, lat), textcoords="offset points", **kw, **style)
            box = label.get_window_extent(self.renderer).expanded(1.04, 1.08)
            label.remove()
            path = self._leader(lon, lat, kw["xytext"]) if reach > 1 else []
            tries.append((self._cost(box) + 1000 * sum(self._hit(p) for p in path), reach, kw, box, path))
            if tries[-1][0] == 0:
                break
        cost, reach, kw, box, path = min(tries, key=lambda t: t[:2])
        if optional and (cost > 0 or reach > 1):
            return None
        leader = {"arrowprops": {"arrowstyle": "-", "color": "#616161", "lw": 1, "shrinkA": 1, "shrinkB": 6}}
        self.ax.annotate(text, (lon, lat), textcoords="offset points", **kw, **style, **(leader if reach > 1 else {}))
        self.taken.append(box)
        self.taken += [Bbox.from_extents(x - 2, y - 2, x + 2, y + 2) for x, y in path]
        return box

    def _leader(self, lon: float, lat: float, offset: tuple[float, float]) -> list[tuple[float, float]]:
        """Points along a label's leader line, from clear of its point to the label, in pixels."""
        (x, y), k = self.ax.transData.transform((lon, lat)), self.ax.figure.dpi / 72
        return [(x + offset[0] * k * t, y + offset[1] * k * t) for t in np.linspace(0.45, 0.95, 8)]

    def _hit(self, point: tuple[float, float]) -> bool:
        """Whether a point (pixels) is on something labels keep off."""
        return any(b.x0 <= point[0] <= b.x1 and b.y0 <= point[1] <= b.y1 for b in self.taken)


#: Sizes on the route picture, in points: an incident's numbered marker (circle and its white edge), the small dot
#: at the true position of a marker moved aside, and a town dot (circle and its dark edge).
MARKER_PT, MARKER_EDGE_PT = 20.0, 2.0
ANCHOR_PT = 5.0
TOWN_PT, TOWN_EDGE_PT = 10.0, 2.5


def _stretches(segments: list[dict], limit: int = 6) -> tuple[list[dict], int]:
    """The route's segments with consecutive ones of one level merged; at most ``limit``, and how many more."""
    rows: list[dict] = []
    for row in segments:
        if rows and rows[-1]["level"] == row["level"]:
            rows[-1].update(to=row["to"], length_km=rows[-1]["length_km"] + row["length_km"],
                            score=max(rows[-1]["score"], row["score"]))
        else:
            rows.append(dict(row))
    return rows[:limit], max(0, len(rows) - limit)


def _fit_view(ax, xs: list[float], ys: list[float]) -> None:
    """Show the points with a margin (at least ~220 km across), filling the axes at the true aspect."""
    kx = math.cos(math.radians((min(ys) + max(ys)) / 2))  # a degree of longitude in degrees of latitude
    pad = max((max(xs) - min(xs)) * kx, max(ys) - min(ys)) * 0.1 + 0.25
    width, height = max((max(xs) - min(xs)) * kx + 2 * pad, 2.0), max(max(ys) - min(ys) + 2 * pad, 2.0)
    box = ax.get_position()
    target = box.width * ax.figure.get_figwidth() / (box.height * ax.figure.get_figheight())
    width, height = max(width, height * target), max(height, width / target)
    ax.set_xlim((min(xs) + max(xs) - width / kx) / 2, (min(xs) + max(xs) + width / kx) / 2)
    ax.set_ylim((min(ys) + max(ys) - height) / 2, (min(ys) + max(ys) + height) / 2)


def _draw_map(ax, engine: RiskEngine, doc: dict, marks: list[dict], listed: set[int]) -> tuple[list, list]:
    """The route coloured by level over the grey network, its towns, its incidents and nearby towns.

    Town labels go first; then the incidents' numbered markers, each at its true position or, where it would
    hide another marker, a town or its label, moved aside (:func:`place_markers`) with a leader line from a
    small dot at its true position; then each marker's date label (only where it fits beside the marker when
    the incident is also listed below the map). Returns the placements and the town dots, (x, y, r) pixels.
    """
    halo = [patheffects.withStroke(linewidth=4, foreground="white")]
    px = ax.figure.dpi / 72  # pixels per point
    for seg in engine.network.segments:
        ax.plot(*seg.geometry.xy, color="#c4c4c4", linewidth=1.3, zorder=1, solid_capstyle="round")
    lines = [engine.network.segment(row["id"]).geometry.xy for row in doc["segments"]]
    for row, (xs, ys) in zip(doc["segments"], lines, strict=True):
        ax.plot(xs, ys, color=LEVEL_COLOURS[row["level"]], linewidth=8, zorder=3, solid_capstyle="round",
                path_effects=[patheffects.Stroke(linewidth=11, foreground="white"), patheffects.Normal()])
    _fit_view(ax, [x for xs, _ in lines for x in xs] + [m["lon"] for m in marks],
              [y for _, ys in lines for y in ys] + [m["lat"] for m in marks])

    labels = _Labels(ax)
    towns = [engine.gazetteer.resolve(name) for name in doc["via"]]
    ax.plot([p.lon for p in towns], [p.lat for p in towns], "o", markersize=TOWN_PT, markerfacecolor="white",
            markeredgecolor="#212121", markeredgewidth=TOWN_EDGE_PT, linestyle="none", zorder=5)
    town_r = (TOWN_PT + TOWN_EDGE_PT) / 2 * px
    dots = [(*ax.transData.transform((p.lon, p.lat)), town_r) for p in towns]
    labels.block([p.lon for p in towns], [p.lat for p in towns], 12)
    labels.block([m["lon"] for m in marks], [m["lat"] for m in marks], ANCHOR_PT)
    for xs, ys in lines:
        labels.block(xs, ys, 11, line=True)
    groups: list[list] = []  # consecutive towns too close together on the picture share one label
    for place in towns:
        xy = ax.transData.transform((place.lon, place.lat))
        if groups and math.dist(xy, groups[-1][-1][1]) < 30 * ax.figure.dpi / 150:
            groups[-1].append((place, xy))
        else:
            groups.append([(place, xy)])
    town_labels = []
    for group in groups:
        lon, lat = (sum(c) / len(group) for c in zip(*((p.lon, p.lat) for p, _ in group), strict=True))
        town_labels.append(labels.place("\n".join(p.name for p, _ in group), lon, lat, 9, fontsize=16,
                                        weight="bold", zorder=6, path_effects=halo, linespacing=1.1))

    (x0, x1), (y0, y1), seen, nearby = ax.get_xlim(), ax.get_ylim(), set(doc["via"]), []
    for seg in engine.network.segments:  # towns off the route, drawn small and grey, named where room is left
        for name, (lon, lat) in ((seg.start, seg.geometry.coords[0]), (seg.end, seg.geometry.coords[-1])):
            if name not in seen and x0 < lon < x1 and y0 < lat < y1:
                seen.add(name)
                nearby.append((name, lon, lat))
    route = [xy for xs, ys in lines for p0, p1 in itertools.pairwise(ax.transData.transform(np.column_stack([xs, ys])))
             for n in [max(1, int(math.dist(p0, p1) / 4))] for xy in p0 + (p1 - p0) * np.arange(n)[:, None] / n]
    placements = place_markers([tuple(ax.transData.transform((m["lon"], m["lat"]))) for m in marks],
                               (MARKER_PT + MARKER_EDGE_PT) / 2 * px, frame=labels.frame,
                               dots=dots + [(*ax.transData.transform((lon, lat)), 2 * px) for _, lon, lat in nearby],
                               boxes=[b for b in town_labels if b is not None], line=route, gap=3 * px / 2,
                               anchor_radius=ANCHOR_PT / 2 * px, leader=5 * px)
    to_data = ax.transData.inverted()
    for m, spot in zip(marks, placements, strict=True):
        lon, lat = to_data.transform((spot.x, spot.y))
        if spot.moved:  # a dot at the true position (under any town dot there) and a leader to the marker
            ax.plot(m["lon"], m["lat"], "o", markersize=ANCHOR_PT, markerfacecolor="#212121",
                    markeredgecolor="white", markeredgewidth=1, zorder=4.5)
            ax.plot([m["lon"], lon], [m["lat"], lat], color="#212121", linewidth=1.4, zorder=4,
                    solid_capstyle="butt")
            labels.block([m["lon"], lon], [m["lat"], lat], 4, line=True)
        ax.plot(lon, lat, "o", markersize=MARKER_PT, markerfacecolor="#212121", markeredgecolor="white",
                markeredgewidth=MARKER_EDGE_PT, zorder=7)
        number = str(m["number"])
        ax.text(lon, lat, number, color="white", fontsize=11 if len(number) == 1 else 9.5, weight="bold",
                ha="center", va="center_baseline", zorder=8)
    labels.block_px([spot.box for spot in placements])
    for m, spot in zip(marks, placements, strict=True):
        lon, lat = to_data.transform((spot.x, spot.y))
        labels.place(m["label"], lon, lat, 12, optional=m["number"] in listed, fontsize=13, color="#212121",
                     zorder=8, path_effects=halo)
    for name, lon, lat in nearby:
        ax.plot(lon, lat, "o", markersize=4, color="#9e9e9e", zorder=2)
        labels.place(name, lon, lat, 5, optional=True, fontsize=12, color="#757575", zorder=2, path_effects=halo)
    return placements, dots


def route_picture(engine: RiskEngine, start: str, end: str, at: dt.datetime, path: Path | str, *,
                  dpi: int = 150) -> dict[str, Any]:
    """:func:`_route_picture` with every text drawn as written: report text may hold ``$``, which
    matplotlib would otherwise read as the start of a formula (and fail on)."""
    with rc_context({"text.parse_math": False}):
        return _route_picture(engine, start, end, at, path, dpi=dpi)


def _route_picture(engine: RiskEngine, start: str, end: str, at: dt.datetime, path: Path | str, *,
                   dpi: int = 150) -> dict[str, Any]:
    """Draw the route from ``start`` to ``end`` at ``at`` as a portrait PNG readable on a phone.

    Parameters
    ----------
    engine : RiskEngine
        The engine to ask for the route (:meth:`RiskEngine.route`).
    start, end : str
        The places, any spelling the gazetteer knows.
    at : datetime.datetime
        The assessment time (timezone-aware).
    path : pathlib.Path or str
        Where to write the PNG.
    dpi : int, optional
        Pixels per inch; the figure is 7.2 x 9 inches (1080 x 1350 pixels at the default 150).

    Returns
    -------
    dict
        What was drawn: ``path``, ``route``, ``level``, ``level_name``, ``score``, ``at``, ``via``,
        ``segments`` (id, name, level, level_name, colour, in travel order), ``colours`` (level ->
        colour used), ``incidents`` (number, id, date, label, summary, lat, lon: every incident that
        weighs on the route, numbered by weight), ``incident_count``, ``size_px`` (width, height),
        ``markers`` (a :class:`Placement` per incident, in the order of ``incidents``) and ``town_dots``
        (name, x, y, radius of each town of ``via``); pixels of the picture counted from its bottom left.
    """
    doc = engine.route(start, end, at)
    frame, marks = engine.store.events_frame(ids=[i["id"] for i in doc["incidents"]]), []
    for inc in doc["incidents"]:
        where = incident_point(frame.loc[inc["id"]], engine)
        if where is not None:
            marks.append({"number": len(marks) + 1, "id": inc["id"], "date": inc["date"], "label": _short_label(inc),
                          "summary": inc["summary"], "lat": where[0], "lon": where[1]})
    fig = Figure(figsize=(7.2, 9.0), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    pt = 1.45 / 72 / 9.0  # the height of a line of 1 pt text, as a fraction of the figure's height
    level_colour, when = LEVEL_COLOURS[doc["level"]], _when(dt.datetime.fromisoformat(doc["at"]))
    fig.text(0.05, 0.975, f"{doc['from']} \u2192 {doc['to']}", fontsize=26, weight="bold", va="top")
    fig.text(0.05, 0.912, f"{doc['level_name']} risk", fontsize=22, weight="bold", va="top", color=level_colour)
    fig.text(0.95, 0.908, f"score {doc['score']:.0f}/100 \u00b7 {doc['distance_km']:.0f} km", fontsize=16,
             va="top", ha="right")
    fig.text(0.05, 0.865, f"assessed {when}", fontsize=14, va="top", color="#555555")
    # below the map: the legend, a row per stretch, then the incidents in two lines each (or one), as many as fit
    rows, hidden = _stretches(doc["segments"])

    def below(items: list) -> float:
        more = (16 if len(items) < len(marks) else 0) + (14 if hidden else 0)
        return 0.03 + (len(rows) * 14 + 62 + sum(len(w) * 14 + 5 for _, w in items) + more) * pt

    for lines in (2, 1):
        listed = [(m, textwrap.wrap(f"{_day(m['date'])}  {m['summary']}", 56, max_lines=lines, placeholder="…"))
                  for m in marks]
        while listed and 0.84 - below(listed) < 0.34:
            listed.pop()
        if len(listed) >= min(len(marks), 4):
            break
    bottom = below(listed)
    ax = fig.add_axes((0.03, bottom, 0.94, 0.84 - bottom))
    ax.set_axis_off()
    placements, dots = _draw_map(ax, engine, doc, marks, {m["number"] for m, _ in listed})
    handles = [Line2D([], [], color=colour, linewidth=8, label=engine.rules.level_name(level))
               for level, colour in LEVEL_COLOURS.items()]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, bottom), ncol=5, fontsize=12,
               frameon=False, handlelength=1.4, columnspacing=0.9, handletextpad=0.4)
    y = bottom - 30 * pt
    for row in rows:
        fig.add_artist(Line2D([0.05, 0.09], [y - 6 * pt] * 2, color=LEVEL_COLOURS[row["level"]], linewidth=9))
        fig.text(0.11, y, f"{row['from']} \u2013 {row['to']}", fontsize=14, va="top")
        fig.text(0.95, y, f"{row['length_km']:.0f} km \u00b7 {row['level_name']} {row['score']:.0f}", fontsize=14,
                 va="top", ha="right")
        y -= 14 * pt
    if hidden:
        fig.text(0.11, y, f"+ {hidden} more stretches", fontsize=14, va="top", color="#555555")
        y -= 16 * pt
    fig.text(0.05, y - 6 * pt, "Incidents weighing on the route" if marks else "No incident weighs on this route",
             fontsize=14, weight="bold", va="top")
    y -= 28 * pt
    for m, wrapped in listed:
        fig.text(0.07, y - 7 * pt, str(m["number"]), fontsize=11, weight="bold", color="white", ha="center",
                 va="center", bbox={"boxstyle": "circle,pad=0.25", "fc": "#212121", "ec": "none"})
        fig.text(0.11, y, "\n".join(wrapped), fontsize=14, va="top", linespacing=1.2)
        y -= (len(wrapped) * 14 + 5) * pt
    if len(listed) < len(marks):
        fig.text(0.11, y, f"+ {len(marks) - len(listed)} more on the map", fontsize=14, va="top", color="#555555")
    fig.savefig(path, dpi=dpi, facecolor="white")
    drawn = [{"id": r["id"], "name": r["name"], "level": r["level"], "level_name": r["level_name"],
              "colour": LEVEL_COLOURS[r["level"]]} for r in doc["segments"]]
    return {"path": str(path), "route": f"{doc['from']} -> {doc['to']}", "level": doc["level"],
            "level_name": doc["level_name"], "score": doc["score"], "at": doc["at"], "via": doc["via"],
            "segments": drawn, "colours": {r["level"]: r["colour"] for r in drawn}, "incidents": marks,
            "incident_count": len(marks), "size_px": tuple(round(v) for v in fig.get_size_inches() * dpi),
            "markers": placements, "town_dots": [(name, *dot) for name, dot in zip(doc["via"], dots, strict=True)]}
