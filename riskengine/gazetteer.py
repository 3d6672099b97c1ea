"""The gazetteer: every named place and area the engine knows, and how to find one by name.

Places come from ``seeds/places.tsv`` (one town, village or locality per line), landmarks from
``seeds/landmarks.tsv`` (districts of the big towns, oil fields, ports, airports, air bases, gates,
bridges and checkpoints, each with the town it belongs to as its ``parent``) and areas from
``seeds/areas.yaml`` (districts and regions that are not points, such as al-Jufra, defined by the
places they span). Names are compared after :func:`normalize_name`, so "Sabhā", "SEBHA" and
"سبها" all find the same town.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import shapely
from shapely.geometry import MultiPoint, Polygon

from riskengine import compiled, yamlfile
from riskengine.errors import SeedDataError, UnknownPlaceError
from riskengine.geo import geodesic_km, lonlat_point, to_lonlat, to_metric
from riskengine.models import Place

PLACE_COLUMNS = ("name", "lat", "lon", "kind", "population", "admin1", "aliases", "geonameid", "osm_id")
LANDMARK_COLUMNS = ("name", "lat", "lon", "kind", "parent", "aliases", "source")
#: What a landmarks.tsv row may be; all rank after towns and villages.
LANDMARK_KINDS = (
    "district", "oilfield", "port", "airport", "airbase", "gate", "bridge", "checkpoint", "landmark", "facility",
)
#: What a places.tsv row may be.
PLACE_KINDS = ("city", "town", "village", "hamlet", "locality")
KIND_RANK = {"area": 0, "city": 1, "town": 2, "village": 3, "hamlet": 4, "locality": 4, "district": 5}
KIND_RANK.update({kind: 6 for kind in LANDMARK_KINDS if kind not in KIND_RANK})
#: The rank of a kind no table knows (places built in code).
_UNRANKED = 7
#: The seed files a gazetteer is read from.
SEED_FILES = ("places.tsv", "landmarks.tsv", "areas.yaml")
#: The code that builds a gazetteer: a change to any of it rebuilds the compiled cache.
_BUILD_CODE = tuple(Path(__file__).with_name(name) for name in ("gazetteer.py", "geo.py", "models.py", "yamlfile.py"))

_APOSTROPHES = re.compile(r"['`´ʻʼʾʿ‘’‛′]")
_NON_WORD = re.compile(r"[\W_]+")
_LATIN_ARTICLES = frozenset(
    "al el ul il ash esh as es ad ed ar er az ez at et an en ath eth adh edh ech aj ej ech".split()
)
_ARABIC_FOLD = str.maketrans({"ة": "ه", "ى": "ي", "ـ": None, "ٱ": "ا", "أ": "ا", "إ": "ا", "آ": "ا", "ؤ": "و",
                              "ئ": "ي"})


def normalize_name(text: str) -> str:
    """Reduce a place name to the form names are compared in.

    Case-folds, strips diacritics (and Arabic tashkeel), drops apostrophes and ayn marks, turns
    hyphens and other punctuation into single spaces and drops Arabic definite articles ("al-",
    "el ", "ash-", "ال" ...) from every word but the last, so leading and inner articles are
    treated alike on both sides of a comparison.

    Parameters
    ----------
    text : str
        A place name in Latin or Arabic script.

    Returns
    -------
    str
        The normalised name ("" for a name with no letters).

    Examples
    --------
    >>> normalize_name("Sabhā") == normalize_name("SABHA") == "sabha"
    True
    >>> normalize_name("al-Shuwairif"), normalize_name("Marsa al-Brega"), normalize_name("Ra’s Lānūf")
    ('shuwairif', 'marsa brega', 'ras lanuf')
    >>> normalize_name("الزنتان") == normalize_name("زنتان")
    True
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf")
    text = _APOSTROPHES.sub("", text.casefold()).translate(_ARABIC_FOLD)
    words = _NON_WORD.sub(" ", text).split()
    kept: list[str] = []
    for i, word in enumerate(words):
        last = i == len(words) - 1
        if word in _LATIN_ARTICLES and not last:
            continue
        if word.startswith("ال") and len(word) > 3:
            word = word[2:]
        kept.append(word)
    return " ".join(kept)


class Gazetteer:
    """Places and areas by name.

    Build one with :meth:`load`; then :meth:`resolve` a name to the best place, :meth:`lookup`
    every place a name may mean, or :meth:`suggest` names close to a misspelt one.

    Parameters
    ----------
    places : iterable of Place
        The point places (towns, villages ...).
    areas : iterable of tuple of (Place, float)
        The areas, each with the buffer in km drawn around its members.
    """

    def __init__(self, places: Iterable[Place], areas: Iterable[tuple[Place, float]] = ()):
        areas = list(areas)
        self._places: list[Place] = list(places) + [area for area, _ in areas]
        self._buffer_km = {area.name: km for area, km in areas}
        self._by_name = {p.name: p for p in self._places}
        # normalised name -> [(is_alias, place)], best first
        self._index: dict[str, list[tuple[bool, Place]]] = {}
        for surface, place in self.aliases():
            key = normalize_name(surface)
            if not key:
                continue
            entries = self._index.setdefault(key, [])
            is_alias = normalize_name(place.name) != key
            if all(p is not place for _, p in entries):
                entries.append((is_alias, place))
        for entries in self._index.values():
            entries.sort(key=lambda e: _rank(e[1], e[0]))
        self._children: dict[str, list[Place]] = {}
        for place in self._places:
            if place.parent:
                self._children.setdefault(place.parent, []).append(place)
        self._keys = list(self._index)
        self._geometry_cache: dict[str, Polygon] = {}
        #: What the gazetteer was loaded from (a digest of its seed files and code); None when built in code.
        self.source_key: str | None = None

    @classmethod
    def load(cls, seeds_dir: Path | str) -> Gazetteer:
        """Read ``places.tsv``, ``landmarks.tsv`` (when present) and ``areas.yaml`` from a seeds directory.

        The built gazetteer is kept in the compiled cache (:mod:`riskengine.compiled`) under the
        files' contents and the code that reads them; :attr:`source_key` names that key.

        Raises
        ------
        SeedDataError
            When a file is missing or a line is malformed; the message names the file and line.
        """
        seeds_dir = Path(seeds_dir)
        key_parts = [cls.__module__, cls.__qualname__, shapely.__version__, yamlfile.version(), *_BUILD_CODE,
                     *(seeds_dir / name for name in SEED_FILES)]
        source_key = compiled.fingerprint(key_parts)
        gazetteer = compiled.cached("gazetteer", key_parts, lambda: cls._build(seeds_dir))
        gazetteer.source_key = source_key
        return gazetteer

    @classmethod
    def _build(cls, seeds_dir: Path) -> Gazetteer:
        """Read and check the seed files (what :meth:`load` does on a cache miss)."""
        places = _read_places(seeds_dir / "places.tsv")
        landmarks = seeds_dir / "landmarks.tsv"
        if landmarks.exists():
            places = _read_landmarks(landmarks, places)
        gazetteer = cls(places)
        areas = _read_areas(seeds_dir / "areas.yaml", gazetteer)
        return cls(places, areas)

    @property
    def places(self) -> tuple[Place, ...]:
        """All places, areas included."""
        return tuple(self._places)

    def aliases(self) -> Iterator[tuple[str, Place]]:
        """Yield every (surface name, place) pair: each place's name, then its aliases."""
        for place in self._places:
            yield place.name, place
            for alias in place.aliases:
                yield alias, place

    def lookup(self, name: str) -> list[Place]:
        """Return every place the name may mean, best first ([] when none).

        Towns, villages and areas come before landmarks (districts, airports, oil fields ...), so a
        town keeps its name when a landmark elsewhere shares it. Then places whose own name matches
        come before those matched by an alias; then cities before towns, villages and hamlets; then
        the more populous first.
        """
        return [place for _, place in self._index.get(normalize_name(name), [])]

    def resolve(self, name: str) -> Place:
        """Return the best place for a name.

        Raises
        ------
        UnknownPlaceError
            When no place has that name; it carries :meth:`suggest`'s closest names.

        Examples
        --------
        >>> gaz = Gazetteer([Place("Hun", 29.13, 15.95, aliases=("Houn",))])
        >>> gaz.resolve("HOUN").name
        'Hun'
        """
        found = self.lookup(name)
        if not found:
            raise UnknownPlaceError(name, self.suggest(name))
        return found[0]

    def within(self, parent: Place | str) -> list[Place]:
        """Return the places whose parent is ``parent`` (any spelling the gazetteer knows).

        Towns and villages first (places of places.tsv given a parent), then districts, then the
        other landmarks; by kind and then by name. [] for a place without any.

        Raises
        ------
        UnknownPlaceError
            When ``parent`` is a name no place has.

        Examples
        --------
        >>> gaz = Gazetteer([Place("Sebha", 27.04, 14.43), Place("Sebha Airport", 26.99, 14.47, "airport",
        ...                   parent="Sebha"), Place("Al-Manshiya", 27.04, 14.43, "district", parent="Sebha")])
        >>> [p.name for p in gaz.within("SEBHA")]
        ['Al-Manshiya', 'Sebha Airport']
        """
        if isinstance(parent, str):
            parent = self.resolve(parent)
        children = self._children.get(parent.name, [])
        return sorted(children, key=lambda p: (KIND_RANK.get(p.kind, _UNRANKED), p.kind, p.name))

    def suggest(self, name: str, limit: int = 5) -> list[str]:
        """Return up to ``limit`` canonical names closest to ``name``, best first, no repeats."""
        query = normalize_name(name)
        if not query or limit <= 0:
            return []
        from rapidfuzz import fuzz, process  # noqa: PLC0415 - only a name no place has needs it

        hits = process.extract(query, self._keys, scorer=fuzz.WRatio, limit=limit * 8, score_cutoff=50)
        # equal scores: the bigger place first (a typo of "Sebha" is likelier than of a hamlet)
        ranked = sorted(
            ((round(score), self._index[key][0][1]) for key, score, _ in hits),
            key=lambda h: (-h[0], KIND_RANK.get(h[1].kind, _UNRANKED), -(h[1].population or 0)),
        )
        arabic = not query.isascii()  # "did you mean" in the script the user wrote
        names: list[str] = []
        for _score, place in ranked:
            canonical = arabic_name(place) if arabic else place.name
            if canonical not in names:
                names.append(canonical)
            if len(names) == limit:
                break
        return names

    def area_geometry(self, place: Place | str, point_buffer_km: float = 5.0) -> Polygon:
        """Return the lon/lat polygon a place covers.

        For an area, the convex hull of its members buffered by the area's ``buffer_km``
        (computed in metres, then projected back); for a point place, a disc of
        ``point_buffer_km`` around it. Results are cached.
        """
        if isinstance(place, str):
            place = self.resolve(place)
        key = f"{place.name}\x00{point_buffer_km}" if not place.is_area else place.name
        if key not in self._geometry_cache:
            if place.is_area:
                points = [self._by_name[m] for m in place.members]
                hull = to_metric(MultiPoint([(p.lon, p.lat) for p in points])).convex_hull
                shape = hull.buffer(self._buffer_km[place.name] * 1000.0)
            else:
                shape = to_metric(lonlat_point(place.lat, place.lon)).buffer(point_buffer_km * 1000.0)
            self._geometry_cache[key] = to_lonlat(shape)
        return self._geometry_cache[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_name(name) in self._index

    def __len__(self) -> int:
        return len(self._places)

    def __iter__(self) -> Iterator[Place]:
        return iter(self._places)


def _rank(place: Place, is_alias: bool) -> tuple:
    """Sort key of a name's places: towns before landmarks, own names before aliases, bigger first."""
    return (place.kind in LANDMARK_KINDS, is_alias, KIND_RANK.get(place.kind, _UNRANKED), -(place.population or 0))


def arabic_name(place: Place) -> str:
    """A place's name in Arabic script (:func:`riskengine.arabic.arabic_name`), else its canonical name.

    >>> arabic_name(Place("Sebha", 27.0, 14.4, aliases=("Sabha", "سبها")))
    'سبها'
    """
    from .arabic import arabic_name as chosen  # noqa: PLC0415 - only an Arabic "did you mean" needs it

    return chosen(place.aliases) or place.name


def _read_places(path: Path) -> list[Place]:
    """Parse places.tsv into places, raising SeedDataError with the file and line of a bad row."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedDataError(f"{path}: cannot read places file: {exc}") from exc
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(rows, None)
    missing = [c for c in PLACE_COLUMNS if c not in (header or [])]
    if missing:
        raise SeedDataError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
    col = {c: header.index(c) for c in PLACE_COLUMNS}
    places = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SeedDataError(f"{path}:{line}: expected {len(header)} fields, got {len(row)}")
        cell = {c: row[i].strip() for c, i in col.items()}
        try:
            lat, lon = float(cell["lat"]), float(cell["lon"])
            population = int(float(cell["population"])) if cell["population"] else None
        except ValueError as exc:
            raise SeedDataError(f"{path}:{line}: bad number: {exc}") from exc
        if not cell["name"]:
            raise SeedDataError(f"{path}:{line}: empty name")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SeedDataError(f"{path}:{line}: coordinate out of range: {lat}, {lon}")
        if cell["kind"] not in PLACE_KINDS:
            raise SeedDataError(f"{path}:{line}: unknown kind {cell['kind']!r}")
        aliases = tuple(a.strip() for a in cell["aliases"].split("|") if a.strip())
        places.append(
            Place(cell["name"], lat, lon, cell["kind"], population, cell["admin1"] or None, aliases)
        )
    return places


def _read_landmarks(path: Path, places: list[Place]) -> list[Place]:
    """Add the landmarks of ``landmarks.tsv`` to ``places`` (a new list; the places are not changed).

    A row with coordinates is a new landmark. A row without (lat and lon empty) names a place of
    places.tsv by its canonical name and gives it a parent, more aliases and, when its kind is not
    empty, a new kind: a district that places.tsv already has is thus not duplicated. Every row
    needs a parent (the canonical name of a place of places.tsv) and a source.

    Raises
    ------
    SeedDataError
        For a malformed row, an unknown kind or parent, a landmark that repeats a place of
        places.tsv (same name, within 3 km) or another landmark; the message names file and line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedDataError(f"{path}: cannot read landmarks file: {exc}") from exc
    rows = csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(rows, None)
    missing = [c for c in LANDMARK_COLUMNS if c not in (header or [])]
    if missing:
        raise SeedDataError(f"{path}:1: header lacks column(s) {', '.join(missing)}")
    col = {c: header.index(c) for c in LANDMARK_COLUMNS}
    by_name = {p.name: p for p in places}
    by_key: dict[str, list[Place]] = {}  # every name and alias of places.tsv, normalised
    for place in places:
        for key in {normalize_name(n) for n in (place.name, *place.aliases)}:
            by_key.setdefault(key, []).append(place)
    updated: dict[str, Place] = {}
    added: list[Place] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise SeedDataError(f"{where}: expected {len(header)} fields, got {len(row)}")
        cell = {c: row[i].strip() for c, i in col.items()}
        name, kind, parent = cell["name"], cell["kind"], cell["parent"]
        if not name:
            raise SeedDataError(f"{where}: empty name")
        if name in seen:
            raise SeedDataError(f"{where}: {name!r} is already on line {seen[name]}")
        seen[name] = line
        if not cell["source"]:
            raise SeedDataError(f"{where}: {name!r} has no source")
        if not parent:
            raise SeedDataError(f"{where}: {name!r} has no parent")
        if parent not in by_name:
            close = [p.name for p in by_key.get(normalize_name(parent), []) if p.name in by_name]
            hint = f" (the canonical name is {close[0]!r})" if close else ""
            raise SeedDataError(f"{where}: unknown parent {parent!r} of {name!r}{hint}")
        if parent == name:
            raise SeedDataError(f"{where}: {name!r} cannot be its own parent")
        aliases = tuple(a.strip() for a in cell["aliases"].split("|") if a.strip())
        if not cell["lat"] and not cell["lon"]:  # a place of places.tsv
            if name not in by_name:
                raise SeedDataError(f"{where}: {name!r} has no coordinates and is no canonical name of places.tsv")
            if kind and kind not in LANDMARK_KINDS + PLACE_KINDS:
                raise SeedDataError(f"{where}: unknown kind {kind!r}")
            old = by_name[name]
            updated[name] = replace(
                old, kind=kind or old.kind, parent=parent,
                aliases=old.aliases + tuple(a for a in aliases if a not in old.aliases and a != name))
            continue
        try:
            lat, lon = float(cell["lat"]), float(cell["lon"])
        except ValueError as exc:
            raise SeedDataError(f"{where}: bad coordinate: {exc}") from exc
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise SeedDataError(f"{where}: coordinate out of range: {lat}, {lon}")
        if kind not in LANDMARK_KINDS:
            raise SeedDataError(f"{where}: unknown kind {kind!r} (one of {', '.join(LANDMARK_KINDS)})")
        for twin in by_key.get(normalize_name(name), []):
            if geodesic_km((lat, lon), (twin.lat, twin.lon)) < 3:
                hint = ": leave lat and lon empty to give that place a parent" if twin.name in by_name else ""
                raise SeedDataError(f"{where}: {name!r} repeats {twin.name!r} (same name, same place){hint}")
        landmark = Place(name, lat, lon, kind, aliases=aliases, parent=parent)
        for key in {normalize_name(n) for n in (name, *aliases)}:
            by_key.setdefault(key, []).append(landmark)
        added.append(landmark)
    return [updated.get(p.name, p) for p in places] + added


def _read_areas(path: Path, gazetteer: Gazetteer) -> list[tuple[Place, float]]:
    """Parse areas.yaml into area places whose members are resolved through ``gazetteer``."""
    import yaml  # noqa: PLC0415 - only a build (a miss of the compiled cache) reads YAML

    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yamlfile.load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedDataError(f"{path}: cannot read areas file: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise SeedDataError(f"{path}{where}: invalid YAML: {exc}") from exc
    if not isinstance(data, list):
        raise SeedDataError(f"{path}:1: expected a list of areas")
    areas = []
    for node, item in zip(root.value, data, strict=True):
        where = f"{path}:{node.start_mark.line + 1}"
        if not isinstance(item, dict) or not item.get("name") or not item.get("members"):
            raise SeedDataError(f"{where}: an area needs a name and members")
        try:
            members = [gazetteer.resolve(str(m)) for m in item["members"]]
            buffer_km = float(item.get("buffer_km", 10))
        except UnknownPlaceError as exc:
            raise SeedDataError(f"{where}: area {item['name']!r}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise SeedDataError(f"{where}: area {item['name']!r}: bad buffer_km") from exc
        centre = to_lonlat(to_metric(MultiPoint([(m.lon, m.lat) for m in members])).centroid)
        area = Place(
            name=str(item["name"]),
            lat=round(centre.y, 6),
            lon=round(centre.x, 6),
            kind="area",
            aliases=tuple(str(a) for a in item.get("aliases") or ()),
            members=tuple(m.name for m in members),
        )
        areas.append((area, buffer_km))
    return areas
