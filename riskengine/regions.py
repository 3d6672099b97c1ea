"""Regions of Libya (``rules/regions.yaml``): named sets of road segments, for broadcast channels.

A region is a lon/lat polygon, a list of roads, a list of segments, or several of these. A
polygon holds the segments whose midpoint, or at least half of whose length, lies inside it
(measured on the lon/lat map the polygon is drawn on): a segment added to the network later falls
into its region without an edit. A subscription of kind ``region`` (a Telegram channel seeded from
the run configuration's ``broadcast:``) follows all the segments of one region at once, so one
message reaches every reader of the channel instead of one message per subscriber.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import LineString, Polygon

from .errors import RiskEngineError, RuleFileError
from .rule_files import parse_rule_file

if TYPE_CHECKING:
    from .engine import RiskEngine
    from .roads import RoadNetwork

__all__ = ["REGIONS_FILE", "Region", "Regions", "UnknownRegionError", "arabic_region_names", "regions_of"]

REGIONS_FILE = "regions.yaml"
#: A polygon holds a segment when at least this share of the segment's length lies inside it.
MOST_OF_LENGTH = 0.5


class UnknownRegionError(RiskEngineError, LookupError):
    """A region id that ``rules/regions.yaml`` does not have; carries the known ids."""

    def __init__(self, region_id: str, known: list[str]):
        self.region_id, self.known = region_id, list(known)
        super().__init__(f"unknown region {region_id!r}; the regions are: {', '.join(self.known)}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionName(_Strict):
    en: str = Field(min_length=1)
    ar: str = Field(min_length=1)


class RegionRule(_Strict):
    """One region as the file gives it: a polygon, roads and/or segments."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    name: RegionName
    polygon: list[tuple[float, float]] | None = None  # [lon, lat] points
    roads: list[str] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)

    @field_validator("polygon")
    @classmethod
    def _ring(cls, points: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if points is None:
            return None
        if len(points) < 3:
            raise ValueError(f"a polygon needs at least 3 [lon, lat] points, not {len(points)}")
        for lon, lat in points:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"point [{lon}, {lat}] is not [lon, lat] (lon -180..180, lat -90..90)")
        ring = Polygon(points)
        if not ring.is_valid or ring.area == 0:
            raise ValueError("the polygon crosses itself or encloses no area (are the points in order?)")
        return points

    @model_validator(mode="after")
    def _drawn(self) -> RegionRule:
        if self.polygon is None and not self.roads and not self.segments:
            raise ValueError("give a polygon, roads or segments")
        return self


class RegionsFile(_Strict):
    regions: list[RegionRule] = Field(min_length=1)


@dataclass(frozen=True)
class Region:
    """A region and the segments it holds (in network order)."""

    id: str
    name_en: str
    name_ar: str
    segment_ids: tuple[str, ...]


class Regions:
    """The regions of a rules directory, resolved against one road network."""

    def __init__(self, regions: list[Region], path: Path | None = None):
        self.path = path
        self._by_id = {r.id: r for r in regions}

    @classmethod
    def load(cls, path: Path | str, network: RoadNetwork) -> Regions:
        """Read and check a regions file; a bad polygon, an unknown road or segment, or a region that
        holds no segment is one :class:`~riskengine.errors.RuleFileError` naming the file and region."""
        path = Path(path)
        parsed: RegionsFile = parse_rule_file(path, RegionsFile)
        out, seen = [], set()
        for rule in parsed.regions:
            if rule.id in seen:
                raise RuleFileError(str(path), rule.id, "id", "this region id is given twice")
            seen.add(rule.id)
            out.append(Region(rule.id, rule.name.en, rule.name.ar, _members(rule, network, path)))
        return cls(out, path)

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)

    def __iter__(self):
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, region_id: str) -> Region:
        """The region with this id; :class:`UnknownRegionError` (with the known ids) when there is none."""
        try:
            return self._by_id[region_id]
        except KeyError:
            raise UnknownRegionError(region_id, self.ids) from None

    def of_segment(self, segment_id: str) -> list[str]:
        """The ids of the regions that hold a segment (none, one, or several where regions overlap)."""
        return [r.id for r in self._by_id.values() if segment_id in r.segment_ids]


def _members(rule: RegionRule, network: RoadNetwork, path: Path) -> tuple[str, ...]:
    """The segments a region holds: inside its polygon, on its roads, or named."""
    roads = {s.road_id for s in network.segments}
    for road in rule.roads:
        if road not in roads:
            raise RuleFileError(str(path), rule.id, "roads", f"unknown road {road!r}")
    by_id = {s.id for s in network.segments}
    for segment_id in rule.segments:
        if segment_id not in by_id:
            raise RuleFileError(str(path), rule.id, "segments", f"unknown segment {segment_id!r}")
    area = Polygon(rule.polygon) if rule.polygon else None
    held = tuple(s.id for s in network.segments
                 if s.road_id in rule.roads or s.id in rule.segments
                 or (area is not None and _inside(s.geometry, area)))
    if not held:
        raise RuleFileError(str(path), rule.id, None, "the region holds no segment of the road network")
    return held


def _inside(line: LineString, area: Polygon) -> bool:
    """Whether a segment's midpoint, or at least half its length, lies in ``area``.

    Examples
    --------
    >>> box = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    >>> _inside(LineString([(2, 5), (14, 5)]), box), _inside(LineString([(8, 5), (20, 5)]), box)
    (True, False)
    """
    if area.contains(line.interpolate(0.5, normalized=True)):
        return True
    return line.length > 0 and line.intersection(area).length >= MOST_OF_LENGTH * line.length


@cache
def arabic_region_names(path: Path | None = None) -> dict[str, str]:
    """Each region's English name -> its Arabic name, from a regions file (by default the project's):
    how an alert about a region (titled by its English name) is titled in Arabic. Empty when the file
    cannot be read: the English name is shown then."""
    from .engine import DEFAULT_RULES_DIR  # noqa: PLC0415 - see regions_of

    try:
        parsed: RegionsFile = parse_rule_file(path or DEFAULT_RULES_DIR / REGIONS_FILE, RegionsFile)
    except RuleFileError:
        return {}
    return {rule.name.en: rule.name.ar for rule in parsed.regions}


_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def regions_of(engine: RiskEngine) -> Regions:
    """The regions of an engine's rules directory (``regions.yaml``), read once per engine."""
    found = _LOADED.get(engine)
    if found is None:
        from .engine import DEFAULT_RULES_DIR  # noqa: PLC0415 - the engine imports this module's users

        found = Regions.load(Path(engine.rules.directory or DEFAULT_RULES_DIR) / REGIONS_FILE, engine.network)
        _LOADED[engine] = found
    return found
