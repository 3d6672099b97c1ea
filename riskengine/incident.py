"""An incident as the engine takes it in: validated once, whether extracted from a report or read
from structured rows.

Apart from :mod:`riskengine.models` because validating needs pydantic, which a question about a
route (reading scored rows from the store) never imports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .models import ACLED_EVENT_TYPES, MAX_FATALITIES, MAX_NAME_CHARS


class PlaceRef(BaseModel):
    """A place an incident names, with the role it plays (where it happened, or a reference)."""

    model_config = ConfigDict(defer_build=True)  # validators made on first use: see Incident

    name: str
    lat: float
    lon: float
    role: str = "reference"


class Incident(BaseModel):
    """One located, typed event, as extracted from a report or read from structured input.

    Where it happened is one of: a point (``lat``/``lon`` with ``geo_precision`` or an explicit
    ``radius_km``), a stretch of road (``segments`` lists the segment ids, e.g. "between Waddan and
    Hun"), or an area (``geometry_wkt``, a lon/lat polygon such as the al-Jufra district).
    """

    #: the validators are made on first use, not on import: a question about a route validates no incident
    model_config = ConfigDict(extra="ignore", defer_build=True)

    event_type: str
    sub_event_type: str | None = None
    tags: list[str] = Field(default_factory=list)
    date: dt.date
    #: ACLED's time precision: 1 the day is known, 2 the week, 3 the month
    time_precision: int = Field(default=1, ge=1, le=3)
    #: False when the report did not say when and its publication date stood in
    date_stated: bool = True
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    geo_precision: int = Field(default=1, ge=1, le=3)
    radius_km: float | None = Field(default=None, ge=0)
    location_kind: Literal["point", "stretch", "area"] = "point"
    geometry_wkt: str | None = None
    segments: list[str] = Field(default_factory=list)
    places: list[PlaceRef] = Field(default_factory=list)
    actors: list[str] = Field(default_factory=list)
    targets: list[str] = Field(default_factory=list)
    fatalities: int = Field(default=0, ge=0, le=MAX_FATALITIES)
    confidence: float | None = Field(default=None, ge=0, le=1)
    source: str | None = None
    source_reliability: str | None = None
    evidence: str = ""
    summary: str = ""
    #: False for what ACLED would not code as an event but the engine still uses (a road reopened:
    #: it eases the risk for a few days); such items are kept apart from the incidents in `extract`
    acled_event: bool = True

    @field_validator("event_type")
    @classmethod
    def _known_event_type(cls, value: str) -> str:
        if value not in ACLED_EVENT_TYPES:
            raise ValueError(f"event_type must be one of ACLED's six ({', '.join(ACLED_EVENT_TYPES)})")
        return value

    @field_validator("geometry_wkt")
    @classmethod
    def _area(cls, value: str | None) -> str | None:
        """An area must be a lon/lat polygon that closes, inside the world: checked here, so that a
        bad one is a bad row, not a failure of the whole file later."""
        if value is None or not value.strip():
            return None
        import shapely  # noqa: PLC0415 - shapely is imported by this module anyway (LineString)
        from shapely import wkt  # noqa: PLC0415

        try:
            geom = wkt.loads(value)
        except (shapely.errors.ShapelyError, ValueError, TypeError) as exc:
            raise ValueError(f"not valid WKT: {str(exc).splitlines()[0][:120]}") from None
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            raise ValueError(f"must be a POLYGON or MULTIPOLYGON, not {geom.geom_type}")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise ValueError("has coordinates outside lon -180..180 / lat -90..90 (lon first)")
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                geom = shapely.union_all([g for g in shapely.get_parts(geom) if g.geom_type == "Polygon"])
            if geom.is_empty:
                raise ValueError("is a polygon without area")
            return geom.wkt
        return value

    @field_validator("actors", "targets", "tags")
    @classmethod
    def _short_names(cls, values: list[str]) -> list[str]:
        return [v if len(v) <= MAX_NAME_CHARS else v[:MAX_NAME_CHARS - 1] + "…" for v in values]

    @field_validator("source_reliability")
    @classmethod
    def _admiralty(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        value = value.strip().upper()[:1]
        if value not in "ABCDEF":
            raise ValueError("source_reliability must be an Admiralty grade A-F")
        return value

    @model_validator(mode="after")
    def _has_a_location(self) -> Incident:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.lat is None and not self.segments and not self.geometry_wkt:
            raise ValueError("an incident needs lat/lon, segments or geometry_wkt")
        return self

    def fingerprint(self) -> str:
        """A stable id: the same incident read twice gets the same fingerprint."""
        core = self.model_dump(mode="json", exclude={"confidence", "summary", "acled_event", "time_precision",
                                                     "date_stated"})
        blob = json.dumps(core, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
