"""Build seeds/places.tsv from the shared reference data.

Run from the repository root: ``python seeds/tools/build_places.py``. It reads
``../shared/data/ly_places.tsv`` and ``key_coords.tsv`` (relative to the repository) and
``seeds/tools/place_overrides.yaml``, then writes ``seeds/places.tsv``:

* names are cleaned (stray brackets, invisible marks, doubled spaces);
* rows that are the same town twice are merged into one (same Wikidata item nearby, or a
  GeoNames-only and an OSM-only record a few km apart with similar names), aliases united;
* kinds become city/town/village/hamlet/locality, from population where known;
* key towns get the canonical names of the overrides file, the data's names kept as aliases,
  and the coordinates of key_coords.tsv (GeoNames where it has the town, else OSM);
* aliases keep Latin and Arabic spellings only, without airport codes and machine transliterations.
"""

from __future__ import annotations

import csv
import math
import re
import sys
import unicodedata
from pathlib import Path

import yaml
from rapidfuzz import fuzz

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from riskengine.gazetteer import PLACE_COLUMNS, normalize_name  # noqa: E402

DATA = REPO.parent / "shared" / "data"
OVERRIDES = Path(__file__).with_name("place_overrides.yaml")
OUT = REPO / "seeds" / "places.tsv"

MERGE_KM = 3.0  # GeoNames-only and OSM-only records closer than this, with similar names, are one town
WIKIDATA_MERGE_KM = 25.0
KIND_ORDER = ["city", "town", "village", "hamlet", "locality"]


def clean(text: str) -> str:
    """Drop brackets, quotes and invisible marks; collapse whitespace and trim stray punctuation."""
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = re.sub(r"[()\[\]{}\"<>]", " ", text)
    text = re.sub(r"\s+", " ", text)
    return text.strip(" -,.;:/")


def usable_alias(alias: str) -> bool:
    """Keep Latin or Arabic spellings; drop codes, digits and all-lowercase machine transliterations."""
    if len(normalize_name(alias)) < 3 or re.search(r"[\d,،]", alias):
        return False
    if re.fullmatch(r"[A-Z]{3,4}", alias) or (alias.isascii() and alias == alias.lower()):
        return False
    scripts = {unicodedata.name(ch, "?").split(" ")[0] for ch in alias if ch.isalpha()}
    return scripts in ({"LATIN"}, {"ARABIC"})


def kind_of(raw: str, population: int | None) -> str:
    """Map GeoNames / OSM / Natural Earth feature kinds to city/town/village/hamlet/locality."""
    if population:
        if population >= 100_000:
            return "city"
        if population >= 10_000:
            return "town"
        return "village" if population >= 1_000 else "hamlet"
    raw = raw.removeprefix("osm:")
    if raw in KIND_ORDER:
        return raw
    return {"PPLC": "city", "PPLA": "town", "PPL": "town", "P": "village"}.get(raw, "locality")


def km(a: dict, b: dict) -> float:
    """Approximate ground distance (equirectangular), ample for merging decisions."""
    dlat = math.radians(b["lat"] - a["lat"])
    dlon = math.radians(b["lon"] - a["lon"]) * math.cos(math.radians((a["lat"] + b["lat"]) / 2))
    return 6371.0 * math.hypot(dlat, dlon)


def read_rows() -> list[dict]:
    """Read ly_places.tsv into dicts with cleaned names and numbers, exact duplicates dropped."""
    rows, seen = [], set()
    with open(DATA / "ly_places.tsv", encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            key = tuple(rec.values())
            if key in seen:
                continue
            seen.add(key)
            names = [clean(n) for n in rec["names"].split("|")]
            name = clean(rec["name"]) or next(n for n in names if n)
            rows.append(
                {
                    "name": name,
                    "lat": float(rec["lat"]),
                    "lon": float(rec["lon"]),
                    "raw_kind": rec["kind"],
                    "population": int(float(rec["population"])) if rec["population"] else None,
                    "admin1": rec["admin1"],
                    "geonameid": rec["geonameid"],
                    "osm_id": rec["osm_id"],
                    "wikidata": rec["wikidata"],
                    "sources": rec["sources"],
                    "names": [n for n in names if n],
                }
            )
    return rows


class Groups:
    """Union-find over row indices."""

    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def same_town(a: dict, b: dict) -> bool:
    """Whether two records describe one town (see the module docstring)."""
    dist = km(a, b)
    similar = fuzz.WRatio(normalize_name(a["name"]), normalize_name(b["name"])) >= 80
    if a["wikidata"] and a["wikidata"] == b["wikidata"]:
        return dist < MERGE_KM or (similar and dist < WIKIDATA_MERGE_KM)
    gn_only = {"geonames" in r["sources"] and not r["osm_id"] for r in (a, b)}
    osm_only = {not r["geonameid"] for r in (a, b)}
    return gn_only == {True, False} and osm_only == {True, False} and dist < MERGE_KM and similar


def row_lookup(rows: list[dict], ref: str) -> list[int]:
    """Indices of the rows an override refers to: by name, or 'osm:<id>' / 'geonames:<id>'."""
    if ref.startswith(("osm:", "geonames:")):
        field, value = ref.split(":", 1)
        field = "osm_id" if field == "osm" else "geonameid"
        return [i for i, r in enumerate(rows) if r[field] == value]
    return [i for i, r in enumerate(rows) if r["name"] == ref]


def key_coords() -> dict[str, dict]:
    with open(DATA / "key_coords.tsv", encoding="utf-8", newline="") as fh:
        return {r["place"]: r for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)}


def build() -> list[dict]:
    rows = read_rows()
    keys = key_coords()
    overrides = yaml.safe_load(OVERRIDES.read_text(encoding="utf-8"))["towns"]

    # A key town missing from ly_places.tsv is taken from key_coords.tsv.
    for town in overrides:
        if not any(row_lookup(rows, ref) for ref in town["match"]) and town["name"] in keys:
            k = keys[town["name"]]
            use_gn = bool(k["geonames_lat"])
            rows.append(
                {
                    "name": town["name"],
                    "lat": float(k["geonames_lat"] if use_gn else k["osm_lat"]),
                    "lon": float(k["geonames_lon"] if use_gn else k["osm_lon"]),
                    "raw_kind": "town",
                    "population": None,
                    "admin1": "",
                    "geonameid": k["geonameid"],
                    "osm_id": k["osm_node_id"],
                    "wikidata": "",
                    "sources": "key_coords",
                    "names": [n for n in (k["geonames_name"], k["osm_name"]) if n],
                }
            )
            town["match"] = [town["name"]]

    groups = Groups(len(rows))
    for i, a in enumerate(rows):
        for j in range(i + 1, len(rows)):
            b = rows[j]
            if abs(a["lat"] - b["lat"]) < 0.3 and abs(a["lon"] - b["lon"]) < 0.3 and same_town(a, b):
                groups.union(i, j)
    canon: dict[int, dict] = {}
    for town in overrides:
        found = []
        for ref in town["match"]:
            hits = row_lookup(rows, ref)
            if len({groups.find(i) for i in hits}) != 1:
                problem = "no row" if not hits else "several different places"
                raise SystemExit(f"{OVERRIDES}: {town['name']}: {problem} match {ref!r}")
            found += hits
        for i in found[1:]:
            groups.union(found[0], i)
        canon[groups.find(found[0])] = town

    members: dict[int, list[dict]] = {}
    for i, row in enumerate(rows):
        members.setdefault(groups.find(i), []).append(row)

    out = []
    for root, group in members.items():
        town = canon.get(groups.find(root))
        group.sort(key=lambda r: (not r["geonameid"], not r["osm_id"], -(r["population"] or 0)))
        first = group[0]
        population = max((r["population"] for r in group if r["population"]), default=None)
        name = town["name"] if town else first["name"]
        lat, lon = first["lat"], first["lon"]
        geonameid = next((r["geonameid"] for r in group if r["geonameid"]), "")
        osm_id = next((r["osm_id"] for r in group if r["osm_id"]), "")
        if town and town["name"] in keys:
            k = keys[town["name"]]
            use_gn = bool(k["geonames_lat"])
            lat = float(k["geonames_lat"] if use_gn else k["osm_lat"])
            lon = float(k["geonames_lon"] if use_gn else k["osm_lon"])
            geonameid, osm_id = k["geonameid"] or geonameid, k["osm_node_id"] or osm_id
        extra = [str(a) for a in (town or {}).get("aliases") or ()]
        surfaces = extra + [r["name"] for r in group] + [n for r in group for n in r["names"]]
        aliases, seen = [], {name.casefold()}
        for alias in surfaces:
            alias = clean(alias)
            if (alias in {r["name"] for r in group} or usable_alias(alias)) and alias.casefold() not in seen:
                seen.add(alias.casefold())
                aliases.append(alias)
        kind = (town or {}).get("kind") or kind_of(first["raw_kind"], population)
        out.append(
            {
                "name": name,
                "lat": f"{lat:.6f}".rstrip("0").rstrip("."),
                "lon": f"{lon:.6f}".rstrip("0").rstrip("."),
                "kind": kind,
                "population": "" if population is None else str(population),
                "admin1": next((r["admin1"] for r in group if r["admin1"]), ""),
                "aliases": "|".join(a.replace("|", " ") for a in aliases),
                "geonameid": geonameid,
                "osm_id": osm_id,
            }
        )
    out.sort(key=lambda r: (normalize_name(r["name"]), r["name"], r["lat"]))
    # Exact duplicates after cleaning (same name and coordinates) collapse to one row.
    unique, seen_rows = [], set()
    for r in out:
        key = (r["name"], r["lat"], r["lon"])
        if key not in seen_rows:
            seen_rows.add(key)
            unique.append(r)
    return unique


def main() -> None:
    rows = build()
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=PLACE_COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} places to {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
