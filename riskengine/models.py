"""The nouns of the engine: places and road segments, and the limits an incident is checked against
(the incident itself is in :mod:`riskengine.incident`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shapely.geometry import LineString

ACLED_EVENT_TYPES = (
    "Battles",
    "Explosions/Remote violence",
    "Violence against civilians",
    "Protests",
    "Riots",
    "Strategic developments",
)

LEVEL_NAMES = {1: "Insignificant", 2: "Low", 3: "Medium", 4: "High", 5: "Extreme"}

#: More deaths than any one event has caused: a larger count is a typo or an attack on the store.
MAX_FATALITIES = 100_000
#: The longest name, actor, target or tag kept (a longer one is cut, with an ellipsis).
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Place:
    """A named place of the gazetteer; an area (kind ``area``) lists the places it spans.

    A landmark (a district, oil field, port, airport, gate ...) names its ``parent``: the canonical
    name of the town it belongs to or lies near.
    """

    name: str
    lat: float
    lon: float
    kind: str = "town"
    population: int | None = None
    admin1: str | None = None
    aliases: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    parent: str | None = None

    @property
    def is_area(self) -> bool:
        return self.kind == "area"


@dataclass(frozen=True)
class Segment:
    """A stretch of one named road between two consecutive towns or junctions."""

    id: str
    name: str
    road_id: str
    road_name: str
    start: str
    end: str
    geometry: LineString = field(repr=False, compare=False)
    length_km: float = 0.0
    speed_kmh: float = 80.0

    @property
    def hours(self) -> float:
        """Typical driving time: routes are the quickest, not merely the shortest."""
        return self.length_km / self.speed_kmh
