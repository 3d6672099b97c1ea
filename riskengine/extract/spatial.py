"""Where exactly: spatial phrases around place names become points, stretches of road or areas.

A clause is read with each place name replaced by a marker ``⟦k⟧``; patterns built from
``rules/extraction/geography.yaml`` then find the phrases that locate an incident:

==========================  ==================================================  ====
phrase                      becomes                                             rank
==========================  ==================================================  ====
40 km south of A (on the    a point that far along the road A -> B, or that     100
road to B)                  far on the bearing
road linking the coast      the roads from the coast road to B                  85
with B, or from the coast
to B
between A and B, the road   the stretch of road between A and B                 80
from A to B, heading to B
from A
the road to B (A nearby)    the stretch from A to B                             58
from A to B and east to C   an area spanning every place named (with "stretch"  75
                            or "area" in the clause)
near / outskirts of / in A  a point at A with the phrase's precision radius     60
south of A, in the desert   A, with the distance "south of" implies as its      60
west of the town            radius (ACLED codes such places to the town)
the A area / A district     the area (or a vaguer point)                        55
A, named and nothing more   a point at A                                        10
==========================  ==================================================  ====

The extractor keeps, for each clause, the candidate with the best rank after a small penalty for
its distance from the words that say what happened.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import shapely
from shapely.geometry import MultiPoint, Point

from ..errors import NoRouteError
from ..gazetteer import Gazetteer
from ..geo import destination, latlon_of, metric_xy, to_lonlat, to_metric
from ..incident import PlaceRef
from ..models import Place
from ..roads import RoadNetwork
from ..rules import RuleBook
from .lexicon import COMMON_WORDS, Geography, PhraseEntry, words_regex
from .places import Mention
from .regexscan import Scanner

MARK = "⟦{}⟧"
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff]")
#: Characters that match an ASCII letter when case is ignored but do not lower-case to it (Kelvin sign,
#: long s, dotted and dotless i): with one of them in a clause, patterns are tried without a word check.
_ODD_CASE = re.compile("[\u212a\u017f\u0130\u0131]")
_ARABIC_WORD = re.compile("[\u0600-\u06ff]+")
#: Those characters as the ASCII letters they match ("north-weſt" is "north-west"): what a matched word is
#: looked up by (its lower case alone would keep the long s, and lower-case "İ" to two characters).
_ODD_TO_ASCII = str.maketrans({"\u212a": "k", "\u017f": "s", "\u0130": "i", "\u0131": "i"})
P = r"⟦(\d+)⟧"
#: A place described by its distance from another: "A, a town (some) N km south of B".
APPOSITION = re.compile(rf"{P},\s+(?:an?|the)\s+(?!\d)[^⟦.;,]{{0,100}}$", re.I)
#: Where a road leaves from: "out of A", "leaving A", "from A".
ORIGIN = re.compile(rf"\b(?:out of|leaving|from)\s+(?:the\s+)?{P}", re.I)
ADJ = r"(?:(?:north|south|east|west|north-east|north-west|south-east|south-west|central)(?:ern)?\s+)"
SETTLEMENT = r"(?:(?:town|city|village|oasis|port|capital|desert town|coastal town|coastal city)\s+of\s+)"
ANAPHORA = r"the (?:city|town|village|oasis|capital|port)\b"
#: A short aside in brackets after a distance: "70 kilometres (43 miles) north of".
ASIDE = r"(?:\s*\([^()⟦]{0,30}\))?"
UNITS = {"km": 1.0, "kms": 1.0, "kilometres": 1.0, "kilometers": 1.0, "kilometre": 1.0, "kilometer": 1.0,
         "mile": 1.609, "miles": 1.609}
SPAN_BUFFER_KM = 20.0
ROAD_POINT_RADIUS_KM = 5.0
#: A point this close to a stretch of road the same clause names is the more precise location.
STRETCH_POINT_KM = 15.0


class _NeededWords:
    """Lower-case words one of which is in every match of some phrases (each phrase's longest plain
    word): a pattern built from those phrases cannot match a clause that has none of them, so it is
    not tried there. Regex scans of every clause are most of the time spatial reading takes."""

    def __init__(self, phrases: list[str]):
        words: set[str] | None = set() if phrases else None
        for phrase in phrases:
            plain = [w[:-1] if w.endswith("*") else w for w in phrase.split()]
            # letters and digits stand as they are in the regex; ASCII and Arabic ones have no odd case folds
            plain = [w for w in plain if w.isalnum() and (w.isascii() or _ARABIC_WORD.fullmatch(w))]
            if not plain:
                words = None  # a phrase of wildcards or hyphenated words: no word to check
                break
            rare = [w for w in plain if w.lower() not in COMMON_WORDS]  # "the way": "way", not "the"
            words.add(max(rare or plain, key=len).lower())
        self.words = tuple(sorted(words)) if words is not None else None
        # one regex for all the words: one scan of the clause, not one per word
        self._search = re.compile("|".join(map(re.escape, sorted(self.words, key=len, reverse=True)))).search \
            if self.words else None

    @classmethod
    def of(cls, *entries: PhraseEntry) -> _NeededWords:
        """For the patterns of entries: phrases only (an entry with a regex gives no words)."""
        if any(e.regex for e in entries):
            return cls([])
        return cls([phrase for e in entries for phrase in e.phrases])

    def absent(self, low: str, odd_case: bool) -> bool:
        """Whether none of the words is in ``low`` (a lower-cased clause without odd-case characters)."""
        if self.words is None or odd_case:
            return False
        return self._search is None or self._search(low) is None


class _Ref(NamedTuple):
    """A place a location names and its role: a :class:`~riskengine.models.PlaceRef` to be. A clause
    has many candidate locations and keeps one; only the kept ones' are made models (validated), by
    :meth:`Location.place_refs`."""

    name: str
    lat: float
    lon: float
    role: str


def _ref(place: Place, role: str) -> _Ref:
    return _Ref(place.name, place.lat, place.lon, role)


@dataclass
class Location:
    """Where an incident happened, as one candidate reading of a clause."""

    kind: str  # "point" | "stretch" | "area"
    rank: int
    position: int  # character offset of the phrase in the clause
    lat: float
    lon: float
    geo_precision: int
    radius_km: float | None = None
    segments: list[str] = field(default_factory=list)
    geometry_wkt: str | None = None
    places: list[_Ref] = field(default_factory=list)
    description: str = ""
    inferred: bool = False  # from "the city" or a place named in an earlier clause

    def place_refs(self) -> list[PlaceRef]:
        """The places named, as the models an incident holds."""
        return [PlaceRef(name=r.name, lat=r.lat, lon=r.lon, role=r.role) for r in self.places]

    def key(self) -> tuple:
        """Two readings with the same key are the same location (used to merge incidents)."""
        if self.kind == "stretch":
            return ("stretch", tuple(sorted(self.segments)))
        return (self.kind, round(self.lat, 2), round(self.lon, 2))



class SpatialReader:
    """Compiled spatial patterns plus the roads and places they resolve against."""

    def __init__(self, geography: Geography, network: RoadNetwork, gazetteer: Gazetteer, rules: RuleBook):
        self.geo, self.network, self.gazetteer, self.rules = geography, network, gazetteer, rules
        dirs = sorted(geography.directions, key=len, reverse=True)
        self.bearing = {d.lower(): b for d, b in geography.directions.items()}
        direction = "|".join(re.escape(d) for d in dirs)
        road = words_regex(geography.road_words)
        coast = words_regex(geography.coast_words)
        travel = words_regex(geography.travel_words)
        units = "|".join(sorted(UNITS, key=len, reverse=True))
        flags = re.IGNORECASE
        self.offset_road = re.compile(
            rf"(?P<km>\d+(?:[.,]\d+)?)\s*-?\s*(?P<unit>{units})\b{ASIDE}\s+(?:to the\s+)?(?P<dir>{direction})\s+of\s+"
            rf"⟦(?P<ref>\d+)⟧(?:[^⟦.;]{{0,40}}?(?:\b(?:{road})\s+(?:to|towards|for|leading to)\s+⟦(?P<to>\d+)⟧"
            rf"|\b(?:on|along)\s+the\s+(?:main\s+)?⟦(?P<named>\d+)⟧\s+(?:{road})"
            rf"|\b(?:on|along)\s+the\s+(?:main\s+)?(?P<onroad>(?P<coastal>coast(?:al)?\s+)?(?:{road}))"
            rf"(?!\s+(?:to|towards|for|leading to)\s+⟦)))?", flags)
        self.distance_from = re.compile(
            rf"(?P<km>\d+(?:[.,]\d+)?)\s*-?\s*(?P<unit>{units})\b{ASIDE}\s+(?:from|outside|out of|away from)\s+"
            rf"(?:⟦(?P<ref>\d+)⟧|{ANAPHORA})", flags)
        self.before_reaching = re.compile(
            rf"(?P<km>\d+(?:[.,]\d+)?)\s*-?\s*(?P<unit>{units})\b{ASIDE}\s+(?:before|short of)\s+"
            rf"(?:reaching\s+|arriving\s+(?:at|in)\s+)?⟦(?P<ref>\d+)⟧(?:[^⟦.;]{{0,30}}?\b(?:coming|driving|travell?ing|heading)\s+from\s+"
            rf"⟦(?P<origin>\d+)⟧)?", flags)
        self.coast_road = re.compile(
            rf"(?:{road})\s+(?:from|linking)\s+(?:{coast})\s+(?:to|towards|into|with)\s+[^⟦.;]{{0,80}}?{P}", flags)
        self.stretches = [
            re.compile(rf"\bbetween\s+(?:the\s+)?{ADJ}?(?:(?:coastal\s+|desert\s+)?(?:towns|cities|villages|oases|ports)"
                       rf"\s+of\s+)?{P}\s+and\s+(?:the\s+)?{ADJ}?{SETTLEMENT}?{P}", flags),
            re.compile(rf"(?:{road})\s+(?:from|between|linking|connecting|joining)\s+{P}\s+(?:to|and|with|towards)\s+{P}",
                       flags),
            re.compile(rf"{P}\s*(?:-|–|—|to)\s*{P}\s+(?:{road}|stretch|section)", flags),
        ]
        self.travel_to_from = re.compile(
            rf"(?:{travel})\b[^⟦.;]{{0,40}}?\b(?:to|towards|for)\s+{P}\s+from\s+{P}", flags)
        self.travel_from_to = re.compile(rf"\bfrom\s+{P}\s+(?:to|towards|for)\s+{P}", flags)
        self.has_travel = re.compile(rf"(?:{travel})|(?:{road})", flags)
        self.road_to = re.compile(rf"(?:{road})\s+(?:to|towards|into|leading to|out of)\s+{P}"
                                  rf"|\b(?:on|along|at)\s+the\s+(?:main\s+)?{P}\s+(?:{road})", flags)
        self.span_word = re.compile(words_regex(geography.span_words), flags)
        self.span = re.compile(rf"\bfrom\s+[^⟦.;]{{0,80}}?{P}", flags)
        self.proximity = [
            (p, re.compile(rf"(?:{p.pattern()})\s+(?:the\s+)?{ADJ}?{SETTLEMENT}?(?:{P}|({ANAPHORA}))", flags),
             _NeededWords.of(p))
            for p in geography.proximity
        ]
        self.possessive = re.compile(rf"{P}['’]s\s+{ADJ}?(?:outskirts|edge|suburbs|entrance|outskirt)", flags)
        self.region = re.compile(rf"{P}\s+(?:{geography.region_suffixes.pattern()})", flags)
        self._region_words = _NeededWords.of(geography.region_suffixes)
        self._road_words = _NeededWords(list(geography.road_words))
        self._travel_or_road_words = _NeededWords(list(geography.travel_words) + list(geography.road_words))
        self.offset_plain = re.compile(
            rf"(in the (?:\w+\s+)?desert\s+|desert\s+)?(?:to the\s+)?\b({direction})\s+of\s+"
            rf"(?:(?:the\s+)?{ADJ}?{P}|({ANAPHORA}))", flags)
        self.direction_of = re.compile(rf"\b({direction})\s+of\b", flags)
        self.road_word = re.compile(road, flags)
        # Arabic: "جنوب سرت بنحو 40 كم", "على بعد 40 كم جنوب سرت", "الكيلو 60 غرب سرت", "جنوب سرت",
        # "بين سرت وودان", "الطريق الرابط بين سرت والجفرة", "طريق سرت - الجفرة"
        ar_dirs = [d for d in dirs if any("\u0600" <= ch <= "\u06ff" for ch in d)]
        if ar_dirs:
            ar_dir = "|".join(re.escape(d) for d in ar_dirs)
            km = r"(?P<km>\d+(?:[.,]\d+)?)\s*(?:كم|كلم|كيلو\s*متر\w*|كيلومتر\w*)"
            about = r"(?:(?:ب|على\s+بعد|بمسافه|نحو|بنحو|حوالي|بحوالي|قرابه)\s*)?"
            town = r"(?:(?:مدينه|بلده|قريه|منطقه)\s+)?"
            self.ar_offsets = [
                re.compile(rf"(?:الى\s+)?(?:ال)?(?P<dir>{ar_dir})\s+(?:من\s+)?{town}⟦(?P<ref>\d+)⟧\s*,?\s*{about}{km}"),
                re.compile(rf"{about}{km}\s+(?:الى\s+)?(?:ال)?(?P<dir>{ar_dir})\s+(?:من\s+)?{town}⟦(?P<ref>\d+)⟧"),
                re.compile(rf"(?:ال)?كيلو\s*(?P<km>\d+)\s+(?:ال)?(?P<dir>{ar_dir})\s+(?:من\s+)?{town}⟦(?P<ref>\d+)⟧"),
            ]
            self.ar_direction = re.compile(rf"(?:الى\s+)?(?:ال)?(?P<dir>{ar_dir})\s+(?:من\s+)?{town}⟦(?P<ref>\d+)⟧")
        else:
            self.ar_offsets, self.ar_direction = [], None
        self.stretches += [  # read with the English ones
            re.compile(r"بين\s+(?:مدينتي\s+|مدينه\s+|بلدتي\s+)?⟦(\d+)⟧\s*(?:و\s*)?(?:مدينه\s+)?⟦(\d+)⟧"),
            re.compile(r"(?:طريق|الطريق)\s+(?:[^\s⟦]+\s+){0,2}?⟦(\d+)⟧\s*[-–—/]\s*⟦(\d+)⟧"),
        ]
        # every pattern is scanned from the places its first word can start (see regexscan)
        for name in ("offset_road", "distance_from", "before_reaching", "coast_road", "travel_to_from",
                     "travel_from_to", "has_travel", "road_to", "span_word", "span", "possessive", "region",
                     "offset_plain", "direction_of", "road_word"):
            setattr(self, name, Scanner(getattr(self, name)))
        self.stretches = [Scanner(p) for p in self.stretches]
        self.ar_offsets = [Scanner(p) for p in self.ar_offsets]
        self.ar_direction = Scanner(self.ar_direction) if self.ar_direction is not None else None
        self.proximity = [(p, Scanner(pattern), needed) for p, pattern, needed in self.proximity]

    # ---- geometry helpers --------------------------------------------------------------------

    def _point(self, place: Place, rank: int, position: int, precision: int, radius: float | None,
               description: str, inferred: bool = False) -> Location:
        if place.is_area:
            return self._area_of(place, rank, position, description, inferred)
        return Location("point", rank, position, place.lat, place.lon, precision, radius,
                        places=[_ref(place, "event")], description=description, inferred=inferred)

    def nearby(self, place: Place) -> Location:
        """A vague, inferred reading at a place the clause itself does not name."""
        near = next((p for p in self.geo.proximity if p.id == "near"), None)
        return self._point(place, 3, 0, 2, near.radius_km if near else None, f"near {place.name}", inferred=True)

    def _area_of(self, place: Place, rank: int, position: int, description: str, inferred: bool) -> Location:
        polygon = self.gazetteer.area_geometry(place)
        c = polygon.centroid
        return Location("area", rank, position, c.y, c.x, 2, None, geometry_wkt=polygon.wkt,
                        places=[_ref(place, "event")], description=description, inferred=inferred)

    def km_from_segments(self, lat: float, lon: float, segment_ids: list[str]) -> float:
        """How far a point is from the nearest of some segments, in km."""
        point = Point(metric_xy(lat, lon))
        return min(self._metric_segment(sid).distance(point) for sid in segment_ids) / 1000.0

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one reader per engine; the network does not change
    def _metric_segment(self, segment_id: str):
        return to_metric(self.network.segment(segment_id).geometry)

    def lies_on(self, point: Location, stretch: Location) -> bool:
        """Whether a precise point lies on a stretch of road."""
        return ((point.radius_km or 0) <= STRETCH_POINT_KM
                and self.km_from_segments(point.lat, point.lon, stretch.segments) <= STRETCH_POINT_KM)

    def refine(self, best: Location, others: list[Location]) -> Location:
        """A stretch of road gives way to a precise point named on it ("near X, between A and B"); a
        town gives way to its own district or landmark named beside it ("Benghazi's Ganfouda
        district", "Juliana Bridge in Benghazi")."""
        if best.kind == "point" and best.places:
            town = best.places[0].name
            inside = [loc for loc in others if loc.kind == "point" and loc.places and not loc.inferred
                      and self._parent(loc.places[0].name) == town]
            return max(inside, key=lambda loc: loc.rank) if inside else best
        if best.kind != "stretch":
            return best
        on_it = [loc for loc in others if loc.kind == "point" and loc.rank >= 60 and not loc.inferred
                 and (loc.radius_km or 0) <= STRETCH_POINT_KM
                 and self.km_from_segments(loc.lat, loc.lon, best.segments) <= STRETCH_POINT_KM]
        return max(on_it, key=lambda loc: loc.rank) if on_it else best

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one reader per engine; the gazetteer does not change
    def _parent(self, name: str) -> str | None:
        found = self.gazetteer.lookup(name)
        return found[0].parent if found else None

    def _offset(self, place: Place, bearing: float, km: float) -> tuple[float, float]:
        return destination(place.lat, place.lon, bearing, km)

    def _stretch(self, a: Place, b: Place, rank: int, position: int, description: str,
                 inferred: bool = False) -> Location | None:
        road = self._road_between(a.name, b.name)
        if road is None:
            return None
        segments, lat, lon = road
        return Location("stretch", rank, position, lat, lon, 2, None, segments=list(segments),
                        places=[_ref(a, "endpoint"), _ref(b, "endpoint")], description=description,
                        inferred=inferred)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one reader per engine; the network does not change
    def _road_between(self, a: str, b: str) -> tuple[tuple[str, ...], float, float] | None:
        """The segments of the road from a to b and the midpoint of that road (cached)."""
        if a == b:
            return None
        a_on, b_on = self._segment_under(a), self._segment_under(b)
        if a_on and b_on and a_on == b_on:
            segment = self.network.segment(a_on)
            mid = _midpoint(segment.geometry)
            return (segment.id,), mid.y, mid.x
        try:
            path = self.network.path(a, b)
        except (NoRouteError, LookupError):
            return None
        segments = list(path.segments)
        for place_segment in (a_on, b_on):
            if place_segment and all(s.id != place_segment for s in segments):
                segments.append(self.network.segment(place_segment))
        if not segments:
            return None
        line = path.line() if path.segments else segments[0].geometry
        if a_on or b_on:  # halfway between the two places along the road, not along whole segments
            mid = self._between_on_line(line if path.segments and not (a_on and b_on) else segments[-1].geometry,
                                        a, b)
        else:
            mid = _midpoint(line)
        return tuple(s.id for s in segments), mid.y, mid.x

    def _between_on_line(self, line, a: str, b: str):
        """The point halfway between two places, measured along a line they both lie near."""
        metric = to_metric(line)
        ends = []
        for name in (a, b):
            place = self.gazetteer.resolve(name)
            ends.append(metric.project(Point(metric_xy(place.lat, place.lon))))
        return to_lonlat(metric.interpolate(sum(ends) / 2.0))

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one reader per engine; the network does not change
    def _segment_under(self, name: str) -> str | None:
        """For a place that is not a town of the network but lies on a road (a village the road
        passes), the segment it lies on; None for network towns and places off the roads."""
        if name in self.network.graph:
            return None
        try:
            place = self.gazetteer.resolve(name)
        except LookupError:
            return None
        ids = [s.id for s in self.network.segments]
        nearest = min(ids, key=lambda sid: self.km_from_segments(place.lat, place.lon, [sid]))
        return nearest if self.km_from_segments(place.lat, place.lon, [nearest]) <= STRETCH_POINT_KM else None

    def _snap_to_road_from(self, a: Place, km: float, straight: tuple[float, float], *, on_road: bool = False,
                           road_id: str | None = None) -> tuple[float, float] | None:
        """The point ``km`` along the road leaving ``a`` that lies nearest a straight-line offset, if
        one does (within 0.7 of the distance): reports say "30 km west of X" of a point on the road.
        When the text says it is on a road (``on_road``; ``road_id`` if it names which), the nearest
        such point however far, for a road bends where a bearing does not."""
        return self._snapped(a.name, km, straight, on_road, road_id)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one reader per engine; the network does not change
    def _snapped(self, name: str, km: float, straight: tuple[float, float], on_road: bool, road_id: str | None
                 ) -> tuple[float, float] | None:
        """:meth:`_snap_to_road_from` for a town of the network by its name (cached: towns and distances recur)."""
        if name not in self.network.graph:
            return None
        best, best_gap = None, float("inf") if on_road else max(10.0, km * 0.7)
        target = Point(metric_xy(*straight))
        for neighbour in self.network.graph.neighbors(name):
            if road_id is not None and all(s.road_id != road_id for s in self._segments_between(name, neighbour)):
                continue
            road = self._metric_road(name, neighbour)
            if road is None:
                continue
            point = road.interpolate(min(km * 1000.0, road.length))
            gap = point.distance(target) / 1000.0
            if gap < best_gap:
                best, best_gap = point, gap
        if best is None:
            return None
        return latlon_of(best.x, best.y)

    def _segments_between(self, a: str, b: str) -> list:
        try:
            return list(self.network.path(a, b).segments)
        except (NoRouteError, LookupError):
            return []

    def _road_point(self, a: Place, b: Place, km: float, rank: int, position: int,
                    description: str) -> Location | None:
        """A point ``km`` along the road from ``a`` towards ``b``, as a location reading."""
        point = self._along_road(a, b, km)
        if point is None:
            return None
        return Location("point", rank, position, point[0], point[1], 2, ROAD_POINT_RADIUS_KM,
                        places=[_ref(a, "reference"), _ref(b, "reference")], description=description)

    def _along_road(self, a: Place, b: Place, km: float) -> tuple[float, float] | None:
        return self._along(a.name, b.name, km)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one reader per engine; the network does not change
    def _along(self, a: str, b: str, km: float) -> tuple[float, float] | None:
        """The point ``km`` along the road from town ``a`` towards ``b`` (cached)."""
        metric = self._metric_road(a, b)
        if metric is None:
            return None
        point = metric.interpolate(min(km * 1000.0, metric.length))
        return latlon_of(point.x, point.y)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one reader per engine; the network does not change
    def _metric_road(self, a: str, b: str):
        """The road from a to b as one line in the metric CRS (cached)."""
        try:
            path = self.network.path(a, b)
        except (NoRouteError, LookupError):
            return None
        return to_metric(path.line()) if path.segments else None

    def _roads_from_coast(self, target: Place, rank: int, position: int) -> Location | None:
        """The roads leading from the coast road to ``target``: every quickest path from a coastal
        junction that is within a fifth of the quickest one, without the coastal segments."""
        try:
            coast = self.network.road(self.geo.coast_road).towns
        except LookupError:
            return None
        paths = []
        for town in coast:
            try:
                path = self.network.path(town, target.name)
            except (NoRouteError, LookupError):
                continue
            inland = [s for s in path.segments if s.road_id != self.geo.coast_road]
            if inland and len(inland) == len(path.segments):
                paths.append((sum(s.hours for s in inland), path))
        if not paths:
            return None
        best = min(h for h, _ in paths)
        segments: dict[str, None] = {}
        for hours, path in sorted(paths, key=lambda p: p[0]):
            if hours <= 1.2 * best:
                segments.update(dict.fromkeys(s.id for s in path.segments))
        quickest = min(paths, key=lambda p: p[0])[1]
        mid = _midpoint(quickest.line())
        return Location("stretch", rank, position, mid.y, mid.x, 2, None, segments=list(segments),
                        places=[_ref(target, "endpoint")], description=f"on the roads from the coast to {target.name}")

    # ---- reading -----------------------------------------------------------------------------

    def candidates(self, clause: str, mentions: list[Mention], context: Callable[[], Place | None]) -> list[Location]:
        """Every reading of where the clause puts its incident (mention offsets are in the clause).
        ``context()``: the place named before the clause, what "the city" refers to (asked only when a
        phrase needs it: finding it may mean reading earlier sentences)."""
        template, starts = _template(clause, mentions)
        places = [m.place for m in mentions]

        def at(m: re.Match, group: int = 0) -> int:
            return starts.get(m.start(group), m.start(group))

        marker_at = [template.index(MARK.format(k)) for k in range(len(mentions))]

        def antecedent(position: int) -> Place | None:
            """What "the city" refers to: the last town named before it, else the context."""
            before = [places[k] for k in range(len(places)) if marker_at[k] < position and not places[k].is_area]
            return before[-1] if before else context()

        found: list[Location] = []
        used_spans: list[tuple[int, int]] = []

        low = template.lower()
        several = len(mentions) >= 2
        has_digit = any(map(str.isdigit, low))
        odd_case = _ODD_CASE.search(template) is not None
        lowered = low if not odd_case and len(low) == len(template) else None  # see regexscan.Starts
        has_road = not self._road_words.absent(low, odd_case) and self.road_word.search(low, low=lowered) is not None
        has_direction = self.direction_of.search(low, low=lowered) is not None

        for m in (self.offset_road.finditer(template, low=lowered) if has_digit else ()):
            km = _km(m)
            a = places[int(m.group("ref"))]
            described = APPOSITION.search(template, max(0, m.start() - 120), m.start())
            # "Mizda, a market town 180 km south of Tripoli": the distance says where the town is
            if described and not mentions[int(described.group(1))].says_who:
                place = places[int(described.group(1))]
                found.append(self._point(place, 95, at(m), 1, None, f"in {place.name}"))
                used_spans.append(m.span())
                continue
            bearing = self.bearing[_key(m.group("dir"))]
            destination = m.group("to") or m.group("named")
            if destination is not None:
                b = places[int(destination)]
                loc = self._road_point(a, b, km, 100, at(m), f"{km:g} km from {a.name} on the road to {b.name}")
                if loc:
                    found.append(loc)
                    used_spans.append(m.span())
                    continue
            lat, lon = self._offset(a, bearing, km)
            # a road named, or a checkpoint (they stand on roads): the point is on the road, wherever it bends
            said_on_road = m.group("onroad") is not None or has_road or "checkpoint" in low
            on_road = self._snap_to_road_from(a, km, (lat, lon), on_road=said_on_road,
                                              road_id=self.geo.coast_road if m.group("coastal") else None)
            if on_road is not None:  # "30 km west of Brega": on the road that leaves Brega westwards
                lat, lon = on_road
            found.append(Location("point", 90, at(m), lat, lon, 2,
                                  ROAD_POINT_RADIUS_KM if on_road else max(3.0, km * 0.15),
                                  places=[_ref(a, "reference")], description=f"{km:g} km {m.group('dir')} of {a.name}"))
            used_spans.append(m.span())

        arabic = _ARABIC_SCRIPT.search(template) is not None
        for pattern in (self.ar_offsets if arabic and has_digit else ()):
            for m in pattern.finditer(template, low=lowered):
                if _inside(m.span(), used_spans):
                    continue
                a = places[int(m.group("ref"))]
                km = float(m.group("km").replace(",", "."))
                direction = m.group("dir")
                lat, lon = self._offset(a, self.bearing[_key(direction)], km)
                on_road = self._snap_to_road_from(a, km, (lat, lon), on_road=has_road or "بوابه" in low)
                if on_road is not None:
                    lat, lon = on_road
                found.append(Location("point", 90, at(m), lat, lon, 2,
                                      ROAD_POINT_RADIUS_KM if on_road else max(3.0, km * 0.15),
                                      places=[_ref(a, "reference")],
                                      description=f"{km:g} km {_compass(self.bearing[_key(direction)])} of {a.name}"))
                used_spans.append(m.span())
        ar_direction = self.ar_direction if arabic else None
        for m in (ar_direction.finditer(template, low=lowered) if ar_direction is not None else ()):
            if _inside(m.span(), used_spans):
                continue
            a = places[int(m.group("ref"))]
            found.append(Location("point", 60, at(m), a.lat, a.lon, self.geo.offset_without_distance_precision,
                                  self.geo.offset_without_distance_km, places=[_ref(a, "reference")],
                                  description=f"{_compass(self.bearing[_key(m.group('dir'))])} of {a.name}"))

        for m in (self.distance_from.finditer(template, low=lowered) if has_digit else ()):
            if _inside(m.span(), used_spans):
                continue
            km = _km(m)
            if m.group("ref") is not None:
                a = places[int(m.group("ref"))]
            else:  # "on the highway out of A towards B, 60 km from the city": the city is where the road left
                origin = [int(k) for k in ORIGIN.findall(template, 0, m.start())]
                a = places[origin[-1]] if origin else antecedent(m.start())
            others = [p for p in places if a is not None and p.name != a.name and not p.is_area]
            if a is None or not others:
                continue
            b = others[0]  # "on the highway out of Sirte towards Waddan, 60 km from the city"
            loc = self._road_point(a, b, km, 95, at(m), f"{km:g} km from {a.name} towards {b.name}")
            if loc:
                found.append(loc)
                used_spans.append(m.span())

        for m in (self.before_reaching.finditer(template, low=lowered) if has_digit else ()):
            km = _km(m)
            a = places[int(m.group("ref"))]
            if m.group("origin") is None:
                continue
            b = places[int(m.group("origin"))]
            loc = self._road_point(a, b, km, 100, at(m), f"{km:g} km before {a.name} coming from {b.name}")
            if loc:
                found.append(loc)
                used_spans.append(m.span())

        coastal = has_road and ("coast" in low or "north" in low or "mediterranean" in low)
        for m in (self.coast_road.finditer(template, low=lowered) if coastal else ()):
            loc = self._roads_from_coast(places[int(m.group(1))], 85, at(m))
            if loc:
                found.append(loc)
                used_spans.append(m.span())

        for pattern in self.stretches if several else ():
            for m in pattern.finditer(template, low=lowered):
                a, b = places[int(m.group(1))], places[int(m.group(2))]
                loc = self._stretch(a, b, 80, at(m), f"between {a.name} and {b.name}")
                if loc:
                    found.append(loc)
                    used_spans.append(m.span())
        for m in (self.travel_to_from.finditer(template, low=lowered) if several else ()):
            b, a = places[int(m.group(1))], places[int(m.group(2))]
            loc = self._stretch(a, b, 80, at(m), f"on the road from {a.name} to {b.name}")
            if loc:
                found.append(loc)
                used_spans.append(m.span())
        has_span = self.span_word.search(template, low=lowered) is not None
        # "from A to B" first: far rarer than a travel or road word, and far cheaper to look for
        from_to = list(self.travel_from_to.finditer(template, low=lowered)) if several and not has_span else ()
        if from_to and not self._travel_or_road_words.absent(low, odd_case) \
                and self.has_travel.search(template, low=lowered):
            for m in from_to:
                a, b = places[int(m.group(1))], places[int(m.group(2))]
                loc = self._stretch(a, b, 80, at(m), f"on the road from {a.name} to {b.name}")
                if loc:
                    found.append(loc)
                    used_spans.append(m.span())
        for m in (self.road_to.finditer(template, low=lowered) if has_road else ()):
            if _inside(m.span(), used_spans):
                continue
            b_index = int(m.group(1) or m.group(2))
            others = [places[i] for i in range(len(places)) if i != b_index and not places[i].is_area]
            anchor = others[-1] if others else context()
            if anchor is not None:
                loc = self._stretch(anchor, places[b_index], 58, at(m),
                                    f"on the road from {anchor.name} to {places[b_index].name}",
                                    inferred=not others)
                if loc:
                    found.append(loc)

        if has_span and (several or any(p.is_area for p in places)):
            span = self._span_area(template, places, starts, lowered)
            if span:
                found.append(span)

        for prox, pattern, needed in self.proximity:
            for m in (() if needed.absent(low, odd_case) else pattern.finditer(template, low=lowered)):
                if _inside(m.span(), used_spans):
                    continue
                if m.group(1) is not None:
                    if mentions[int(m.group(1))].says_who:  # "the government in Tripoli said"
                        continue
                    place, inferred = places[int(m.group(1))], False
                else:
                    place, inferred = antecedent(m.start()), True
                if place is None:
                    continue
                phrase = template[m.start():m.start(1) - 1 if m.group(1) else m.start(2)].strip()
                found.append(self._point(place, prox.rank, at(m), prox.geo_precision, prox.radius_km,
                                         f"{_readable(phrase, prox.id)} {place.name}", inferred))
        outskirts = next((p for p in self.geo.proximity if p.id == "outskirts"), None)
        for m in (self.possessive.finditer(template, low=lowered) if "s " in low else ()):
            place = places[int(m.group(1))]
            radius = outskirts.radius_km if outskirts else None
            found.append(self._point(place, 60, at(m), 2, radius, f"outskirts of {place.name}"))

        for m in (self.offset_plain.finditer(template, low=lowered) if has_direction else ()):
            if _inside(m.span(), used_spans):
                continue
            place = places[int(m.group(3))] if m.group(3) is not None else antecedent(m.start())
            if place is None:
                continue
            desert = m.group(1) is not None
            km = self.geo.desert_offset_km if desert else self.geo.offset_without_distance_km
            precision = self.geo.desert_offset_precision if desert else self.geo.offset_without_distance_precision
            where = "in the desert " if desert else ""
            # coded to the reference town, as ACLED does, with the vagueness as its radius
            found.append(Location("point", 60, at(m), place.lat, place.lon, precision, km,
                                  places=[_ref(place, "reference")], inferred=m.group(3) is None,
                                  description=f"{where}{m.group(2)} of {place.name}"))

        suffix_precision = self.geo.region_suffixes.geo_precision
        for m in (() if self._region_words.absent(low, odd_case) else self.region.finditer(template, low=lowered)):
            place = places[int(m.group(1))]
            if place.is_area:
                found.append(self._area_of(place, 55, at(m), f"in the {place.name} area", False))
            else:
                found.append(self._point(place, 55, at(m), suffix_precision, None, f"in the {place.name} area"))

        for i, mention in enumerate(mentions):
            if mention.says_who:  # "Misratan forces", "the Sirte Protection Force": only if nothing else
                found.append(self._point(mention.place, 3, mention.start, 2, None, f"in {mention.place.name}",
                                         inferred=True))
                continue
            found.append(self._point(mention.place, 10, mention.start, 1, None, f"in {mention.place.name}"))
            if places[i].is_area:
                found[-1].geo_precision = 2
        return found

    def _span_area(self, template: str, places: list[Place], starts: _Offsets, low: str | None = None
                   ) -> Location | None:
        """'from A, to B, and east to C' with a span word: an area over every place named from there.
        ``low``: the template lower-cased, if at hand (see regexscan.Starts)."""
        m = self.span.search(template, low=low)
        if not m:
            return None
        tail = template[m.start():]
        if not re.search(r"\bto\b", tail):
            return None
        indices = [int(k) for k in re.findall(P, tail)]
        if len(indices) < 2 and not any(places[i].is_area for i in indices):
            return None
        points: list[tuple[float, float]] = []
        refs = []
        for i in indices:
            place = places[i]
            refs.append(_ref(place, "area"))
            marker = tail.find(MARK.format(i))
            bearing = self._direction_before(tail[:marker])
            if place.is_area:
                poly = self.gazetteer.area_geometry(place)
                points.extend((y, x) for x, y in poly.exterior.coords)
            elif bearing is not None:
                points.append(self._offset(place, bearing, self.geo.offset_without_distance_km))
            else:
                points.append((place.lat, place.lon))
        hull = to_metric(MultiPoint([(lon, lat) for lat, lon in points])).convex_hull
        polygon = to_lonlat(shapely.buffer(hull, SPAN_BUFFER_KM * 1000.0))
        c = polygon.centroid
        names = " - ".join(dict.fromkeys(r.name for r in refs))
        return Location("area", 75, starts.get(m.start(), m.start()), c.y, c.x, 3, None,
                        geometry_wkt=polygon.wkt, places=refs, description=f"in the area {names}")

    def _direction_before(self, text: str) -> float | None:
        """The bearing of a 'south of' that governs the next place: the last one, if no 'to' or
        'from' or clause break comes after it."""
        last = None
        for m in self.direction_of.finditer(text):
            last = m
        if last is None or re.search(r"\b(?:to|from)\b|[;.]", text[last.end():]):
            return None
        return self.bearing[_key(last.group(1))]


class _Offsets:
    """Template offset -> clause offset, for a clause whose place names were replaced by markers."""

    def __init__(self) -> None:
        self._template_starts: list[int] = [0]
        self._shifts: list[int] = [0]

    def add(self, template_pos: int, clause_pos: int) -> None:
        self._template_starts.append(template_pos)
        self._shifts.append(clause_pos - template_pos)

    def get(self, template_pos: int, default: int | None = None) -> int:
        i = bisect.bisect_right(self._template_starts, template_pos) - 1
        return template_pos + self._shifts[i]


def _template(clause: str, mentions: list[Mention]) -> tuple[str, _Offsets]:
    """The clause with each mention replaced by ``⟦k⟧``; and template offset -> clause offset."""
    parts, offsets, pos, last = [], _Offsets(), 0, 0
    for k, m in enumerate(mentions):
        chunk = clause[last:m.start]
        parts.append(chunk)
        pos += len(chunk)
        marker = MARK.format(k)
        offsets.add(pos, m.start)  # the marker stands where the name began
        parts.append(marker)
        pos += len(marker)
        offsets.add(pos, m.end)  # after the marker, the clause goes on where the name ended
        last = m.end
    parts.append(clause[last:])
    return "".join(parts), offsets


_PREPOSITIONS = ("in ", "at ", "near", "outside", "on ", "around", "inside", "close", "not far", "just ")


#: How an Arabic proximity phrase reads in an English summary, by its id in geography.yaml.
_ARABIC_READINGS = {"outskirts": "outskirts of", "near": "near", "origin": "near", "district": "in", "in": "in"}


def _readable(phrase: str, proximity_id: str = "") -> str:
    """A proximity phrase as it reads in a summary: "from" -> "near", "gate of" -> "at the gate of"."""
    if any("\u0600" <= ch <= "\u06ff" for ch in phrase):
        return _ARABIC_READINGS.get(proximity_id, "near")
    phrase = phrase.lower()
    if phrase == "from":
        return "near"
    if phrase.startswith(_PREPOSITIONS) or phrase in {"in", "at", "near", "outside", "inside", "around"}:
        return phrase
    if phrase.startswith(("district", "neighbourhood", "neighborhood", "quarter", "centre", "center", "central")):
        return f"in the {phrase}"
    return f"at the {phrase}"


def _compass(bearing: float) -> str:
    """A bearing as the English word for it (summaries are in English whatever the report's language)."""
    words = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west")
    return words[round(bearing / 45) % 8]


def _km(m: re.Match) -> float:
    """The distance a match names, in km ("40 km", "25 miles", "2,5 kilometres")."""
    return float(m.group("km").replace(",", ".")) * UNITS[_key(m.group("unit"))]


def _key(word: str) -> str:
    """A matched word (a compass direction, a unit) as the lower-case key it is looked up by: the
    patterns ignore case, so "North-Weſt" and "KM" (Kelvin sign) match as "north-west" and "km" do."""
    return word.translate(_ODD_TO_ASCII).lower()


def _midpoint(line):
    """The point halfway along a lon/lat line, measured in metres."""
    return to_lonlat(to_metric(line).interpolate(0.5, normalized=True))


def _inside(span: tuple[int, int], used: list[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in used)
