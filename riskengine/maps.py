"""Maps of the risk, segments coloured by level: an interactive HTML map, and a phone-sized picture of a route.

The map is a folium (Leaflet) page written offline; the browser that opens it loads Leaflet and the tiles
from their CDNs. The route picture is a PNG drawn on matplotlib's Agg canvas (no screen needed).
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
import textwrap
from pathlib import Path
from typing import Any

import folium
import pandas as pd
from matplotlib import patheffects, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import Bbox
from shapely import wkt

from .engine import RiskEngine

#: One colour per level, 1 Insignificant to 5 Extreme.
LEVEL_COLOURS = {1: "#2e7d32", 2: "#f9a825", 3: "#ef6c00", 4: "#c62828", 5: "#6a1b9a"}
#: South-west and north-east corners (lat, lon) of Libya.
LIBYA_BOUNDS = [[19.5, 9.3], [33.3, 25.2]]


def esc(text: Any) -> str:
    """Escape ``text`` for HTML that folium places inside a JavaScript template literal.

    Examples
    --------
    >>> esc("<b>5 km</b> `x` ${y}")
    '&lt;b&gt;5 km&lt;/b&gt; &#96;x&#96; &#36;{y}'
    """
    out = html.escape("" if text is None else str(text), quote=True)
    return out.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


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


def _segment_popup(row: dict, explained: dict | None) -> str:
    top = "".join(f"<li>{esc(i['date'])}: {esc(i['summary'])} <i>(weight {i['weight']:.3f})</i></li>"
                  for i in (explained or {}).get("incidents", [])[:3])
    return (f"<b>{esc(row['name'])}</b> <small>({esc(row['id'])})</small><br>score <b>{row['score']:.1f}</b>, "
            f"level {row['level']} <b>{esc(row['level_name'])}</b><br>"
            + (f"<ol style='padding-left:1.2em;margin:4px 0'>{top}</ol>" if top else "<i>no incident weighs here</i>"))


def _legend(engine: RiskEngine, at: dt.datetime) -> str:
    chip = "<div><i style='display:inline-block;width:26px;height:6px;margin-right:6px;background:{}'></i>{}</div>"
    rows = "".join(chip.format(c, f"{lv} {esc(engine.rules.level_name(lv))}") for lv, c in LEVEL_COLOURS.items())
    return ("<div id='rk-legend' style='position:fixed;bottom:30px;right:12px;z-index:9999;background:white;padding:"
            f"8px 10px;border:1px solid #999;border-radius:6px;font:13px sans-serif'><b>Road risk</b><br><small>"
            f"{esc(_when(at))}</small>{rows}<div><span style='display:inline-block;width:10px;height:10px;"
            "border-radius:50%;margin:0 14px 0 8px;border:2px solid #212121'></span>incident</div></div>")


def interactive_map(engine: RiskEngine, at: dt.datetime) -> folium.Map:
    """Every segment coloured by its level at ``at``, with the incidents that weigh on the roads.

    Parameters
    ----------
    engine : RiskEngine
        The engine whose store, rules and road network are drawn.
    at : datetime.datetime
        The assessment time (timezone-aware); incidents dated after it are not drawn.

    Returns
    -------
    folium.Map
        One polyline per segment (its CSS class names the level and the segment id: ``rk-segment
        rk-level-N rk-seg-ID``), one circle marker per incident that has weight on a segment, and a
        legend of the five levels. Save it with ``m.save(path)``.
    """
    m = folium.Map(location=[27.0, 17.5], zoom_start=6, tiles="OpenStreetMap", control_scale=True)
    roads = folium.FeatureGroup(name="Road segments by level").add_to(m)
    for row in engine.segments(at)["segments"]:
        explained = engine.explain(row["id"], at) if row["incidents"] else None
        folium.PolyLine(  # lat/lon pairs, where shapely has lon/lat
            [(lat, lon) for lon, lat in engine.network.segment(row["id"]).geometry.coords],
            color=LEVEL_COLOURS[row["level"]], weight=5, opacity=0.9,
            class_name=f"rk-segment rk-level-{row['level']} rk-seg-{row['id']}",
            popup=folium.Popup(_segment_popup(row, explained), max_width=380),
            tooltip=esc(f"{row['name']}: {row['level_name']} ({row['score']:.0f})")).add_to(roads)
    contributions = engine.assess(at).contributions
    weighing = set(contributions.loc[contributions["weight"] > 0, "incident_id"])
    frame = engine.store.events_frame(at.astimezone(dt.UTC).date())
    points = folium.FeatureGroup(name="Incidents").add_to(m)
    for _, inc in frame[frame["id"].isin(weighing)].iterrows():
        where = incident_point(inc, engine)
        if where is None:
            continue
        kind = inc["event_type"] + (f" / {inc['sub_event_type']}" if pd.notna(inc["sub_event_type"]) else "")
        summary = inc["summary"] or inc["evidence"][:160]
        popup = f"<b>{esc(inc['date'].isoformat())}</b> {esc(kind)}<br>{esc(summary)}"
        folium.CircleMarker(
            where, radius=6, color="#212121", weight=2, fill=True, fill_color="#ffffff", fill_opacity=0.95,
            class_name=f"rk-incident rk-inc-{inc['id']}",
            popup=folium.Popup(popup, max_width=320), tooltip=esc(f"{inc['date'].isoformat()} {kind}")).add_to(points)
    folium.LayerControl(collapsed=True).add_to(m)
    m.get_root().html.add_child(folium.Element(_legend(engine, at)))
    m.fit_bounds(LIBYA_BOUNDS)
    return m


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

    def place(self, text: str, lon: float, lat: float, gap: float, optional: bool = False, **style) -> None:
        """Label a point, farther with a leader line if need be; an ``optional`` label only where it fits."""
        tries = []
        for reach, (dx, dy) in itertools.product((1.0, 2.5, 4.0, 5.5), self.DIRECTIONS):
            kw = {"xytext": (dx * gap * reach, dy * gap * reach), "ha": {1: "left", -1: "right", 0: "center"}[dx],
                  "va": {1: "bottom", -1: "top", 0: "center"}[dy]}
            label = self.ax.annotate(text, (lon, lat), textcoords="offset points", **kw, **style)
            box = label.get_window_extent(self.renderer).expanded(1.04, 1.08)
            label.remove()
            tries.append((self._cost(box), reach, kw, box))
            if tries[-1][0] == 0:
                break
        cost, reach, kw, box = min(tries, key=lambda t: t[:2])
        if optional and (cost > 0 or reach > 1):
            return
        leader = {"arrowprops": {"arrowstyle": "-", "color": "#616161", "lw": 1, "shrinkA": 1, "shrinkB": 6}}
        self.ax.annotate(text, (lon, lat), textcoords="offset points", **kw, **style, **(leader if reach > 1 else {}))
        self.taken.append(box)


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


def _draw_map(ax, engine: RiskEngine, doc: dict, marks: list[dict]) -> None:
    """The route coloured by level over the grey network, its towns, its incidents and nearby towns."""
    halo = [patheffects.withStroke(linewidth=4, foreground="white")]
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
    ax.plot([p.lon for p in towns], [p.lat for p in towns], "o", markersize=10, markerfacecolor="white",
            markeredgecolor="#212121", markeredgewidth=2.5, linestyle="none", zorder=5)
    labels.block([p.lon for p in towns], [p.lat for p in towns], 12)
    for m in marks:
        ax.plot(m["lon"], m["lat"], "o", markersize=20, markerfacecolor="#212121", markeredgecolor="white",
                markeredgewidth=2, zorder=7)
        ax.text(m["lon"], m["lat"], str(m["number"]), color="white", fontsize=11, weight="bold", ha="center",
                va="center", zorder=8)
    labels.block([m["lon"] for m in marks], [m["lat"] for m in marks], 20)
    for xs, ys in lines:
        labels.block(xs, ys, 11, line=True)
    groups: list[list] = []  # consecutive towns too close together on the picture share one label
    for place in towns:
        xy = ax.transData.transform((place.lon, place.lat))
        if groups and math.dist(xy, groups[-1][-1][1]) < 30 * ax.figure.dpi / 150:
            groups[-1].append((place, xy))
        else:
            groups.append([(place, xy)])
    for group in groups:
        lon, lat = (sum(c) / len(group) for c in zip(*((p.lon, p.lat) for p, _ in group), strict=True))
        labels.place("\n".join(p.name for p, _ in group), lon, lat, 9, fontsize=16, weight="bold", zorder=6,
                     path_effects=halo, linespacing=1.1)
    for m in marks:
        labels.place(m["label"], m["lon"], m["lat"], 12, fontsize=13, color="#212121", zorder=8, path_effects=halo)
    (x0, x1), (y0, y1), seen = ax.get_xlim(), ax.get_ylim(), set(doc["via"])
    for seg in engine.network.segments:
        for name, (lon, lat) in ((seg.start, seg.geometry.coords[0]), (seg.end, seg.geometry.coords[-1])):
            if name not in seen and x0 < lon < x1 and y0 < lat < y1:
                seen.add(name)
                ax.plot(lon, lat, "o", markersize=4, color="#9e9e9e", zorder=2)
                labels.place(name, lon, lat, 5, optional=True, fontsize=12, color="#757575", zorder=2,
                             path_effects=halo)


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
        weighs on the route, numbered by weight), ``incident_count`` and ``size_px`` (width, height).
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
    _draw_map(ax, engine, doc, marks)
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
            "incident_count": len(marks), "size_px": tuple(round(v) for v in fig.get_size_inches() * dpi)}
