"""Events as an ACLED-shaped CSV, with an optional HXL hashtag row, for humanitarian data hubs.

One row per stored event, with ACLED's column names (2023 codebook) where the engine knows the
value, so tools made for ACLED files read ours; the columns are those :func:`read_acled_csv`
reads, so an export ingested again gives the same events and the same scores. An event told along
a stretch of road or over an area has no point of its own: it is written at a representative
point (the middle of its stretch, a point inside its area) with ``geo_precision`` 3, as ACLED codes
a region; its shape does not survive the trip (the GeoJSON export keeps it).

HXL (the Humanitarian Exchange Language) adds a second row of hashtags under the header, which
data hubs such as HDX read to know what each column holds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any

import pandas as pd

from .geojson import event_shape

if TYPE_CHECKING:
    from ..engine import RiskEngine

__all__ = ["ACLED_COLUMNS", "COUNTRY", "HXL_TAGS", "disorder_type", "events_acled_csv"]

#: Where the engine works: ACLED's country, ISO 3166 numeric code and region.
COUNTRY = {"country": "Libya", "iso": "434", "region": "Northern Africa"}

#: The columns written, in ACLED's order, each with its HXL hashtag; ``source_reliability`` (the
#: Admiralty grade, A-F) is ours, read back by :func:`read_acled_csv`.
HXL_TAGS = {
    "event_id_cnty": "#event+id",
    "event_date": "#date+occurred",
    "year": "#date+year",
    "time_precision": "#date+precision",
    "disorder_type": "#event+type+disorder",
    "event_type": "#event+type",
    "sub_event_type": "#event+subtype",
    "actor1": "#group+name+first",
    "assoc_actor_1": "#group+name+first+assoc",
    "actor2": "#group+name+second",
    "iso": "#country+code",
    "region": "#region+name",
    "country": "#country+name",
    "admin1": "#adm1+name",
    "location": "#loc+name",
    "latitude": "#geo+lat",
    "longitude": "#geo+lon",
    "geo_precision": "#geo+precision",
    "source": "#meta+source",
    "source_reliability": "#meta+source+reliability",
    "notes": "#description",
    "fatalities": "#affected+killed",
    "tags": "#event+tags",
    "timestamp": "#date+updated",
}
ACLED_COLUMNS = tuple(HXL_TAGS)

#: ACLED's disorder type of each event type; the sub-types that are both are listed apart.
_DISORDER = {"Battles": "Political violence", "Explosions/Remote violence": "Political violence",
             "Violence against civilians": "Political violence", "Protests": "Demonstrations",
             "Riots": "Demonstrations", "Strategic developments": "Strategic developments"}
_BOTH = {"Excessive force against protesters", "Mob violence"}

#: Decimals of latitude and longitude: 6 is about 0.1 m (ACLED writes 4, about 10 m).
COORDINATE_DECIMALS = 6


def disorder_type(event_type: str, sub_event_type: str | None) -> str:
    """ACLED's disorder type of an event.

    Examples
    --------
    >>> disorder_type("Battles", "Armed clash"), disorder_type("Riots", "Mob violence")
    ('Political violence', 'Political violence; Demonstrations')
    """
    if sub_event_type in _BOTH:
        return "Political violence; Demonstrations"
    return _DISORDER.get(event_type, "")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _reports(engine: RiskEngine) -> dict[str, dict[str, Any]]:
    """Per event, from its reports: the best Admiralty grade and the coarsest time precision told."""
    frame = engine.store.incidents_frame(columns=("event_id", "source_reliability", "time_precision"))
    if frame.empty:
        return {}
    graded = frame["source_reliability"].where(frame["source_reliability"].notna(), None)
    grade = graded.groupby(frame["event_id"]).min()
    precision = pd.to_numeric(frame["time_precision"], errors="coerce").groupby(frame["event_id"]).max()
    return {str(event): {"grade": grade.get(event), "time_precision": precision.get(event)}
            for event in frame["event_id"].dropna().unique()}


def _where(engine: RiskEngine, row: dict) -> tuple[float, float, int] | None:
    """An event's latitude, longitude and ACLED geo precision (3 for a stretch or an area)."""
    if pd.notna(row.get("lat")) and pd.notna(row.get("lon")):
        return float(row["lat"]), float(row["lon"]), int(row["geo_precision"])
    shape = event_shape(engine, row)
    if shape is None or shape.is_empty:
        return None
    if shape.geom_type in ("LineString", "MultiLineString"):
        line = shape if shape.geom_type == "LineString" else shape.geoms[len(shape.geoms) // 2]
        point = line.interpolate(0.5, normalized=True)
    else:
        point = shape.representative_point()
    return point.y, point.x, 3


def _location(row: dict) -> str:
    """The name of the place where it happened (the first named place when none is said to be)."""
    places = list(row.get("places") or [])
    chosen = next((p for p in places if p.get("role") == "event"), places[0] if places else None)
    return chosen["name"] if chosen else ""


def _admin1(engine: RiskEngine, location: str) -> str:
    found = engine.gazetteer.lookup(location) if location else []
    return next((p.admin1 for p in found if p.admin1), "")


def _row(engine: RiskEngine, row: dict, told: dict[str, Any]) -> dict[str, Any] | None:
    where = _where(engine, row)
    if where is None:
        return None
    lat, lon, precision = where
    actors = list(row.get("actors") or [])
    location = _location(row)
    precision_told = told.get("time_precision")
    updated = row.get("updated_at")
    return {
        "event_id_cnty": row["id"], "event_date": row["date"].isoformat(), "year": row["date"].year,
        "time_precision": int(precision_told) if pd.notna(precision_told) else 1,
        "disorder_type": disorder_type(row["event_type"], _text(row["sub_event_type"]) or None),
        "event_type": row["event_type"], "sub_event_type": _text(row["sub_event_type"]),
        "actor1": actors[0] if actors else "", "assoc_actor_1": "; ".join(actors[2:]),
        "actor2": actors[1] if len(actors) > 1 else "",
        **COUNTRY, "admin1": _admin1(engine, location), "location": location,
        "latitude": round(lat, COORDINATE_DECIMALS), "longitude": round(lon, COORDINATE_DECIMALS),
        "geo_precision": precision, "source": "; ".join(row.get("sources") or []),
        "source_reliability": told.get("grade") or "", "notes": _text(row["evidence"]) or _text(row["summary"]),
        "fatalities": int(row["fatalities"]), "tags": "; ".join(row.get("tags") or []),
        "timestamp": int(updated.timestamp()) if isinstance(updated, dt.datetime) and pd.notna(updated) else "",
    }


def events_acled_csv(engine: RiskEngine, *, hxl: bool = False, since: dt.date | None = None,
                     until: dt.date | None = None) -> str:
    """The active events dated from ``since`` to ``until`` (both included; all when None) as ACLED-shaped CSV.

    Parameters
    ----------
    engine
        The engine whose store is read.
    hxl
        Add a row of HXL hashtags (:data:`HXL_TAGS`) under the header.
    since, until
        The first and last days of the events written.

    Returns
    -------
    str
        The CSV text: the header (:data:`ACLED_COLUMNS`), the hashtag row when ``hxl``, then one
        row per event, oldest first. ``event_id_cnty`` is the engine's event id (what
        ``riskengine incidents show`` takes); ``source`` lists the event's sources, separated by
        ``; ``. An event with no location at all is left out.
    """
    after = since - dt.timedelta(days=1) if since is not None else None
    frame = engine.store.events_frame(until, since=after)
    told = _reports(engine)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=ACLED_COLUMNS, lineterminator="\n")
    writer.writeheader()
    if hxl:
        writer.writerow(HXL_TAGS)
    for record in frame.to_dict("records"):
        row = _row(engine, record, told.get(record["id"], {}))
        if row is not None:
            writer.writerow(row)
    return out.getvalue()
