"""The engine in one object: gazetteer, roads, rules and store, and the questions users ask of them.

The CLI, the scheduler and the bot all go through :class:`RiskEngine`; nothing here reads the
clock: every question that depends on time takes ``at``.

An engine keeps what it computed while the store does not change (:meth:`Store.revision`, asked
on every question): the assessments of the last few times asked about, the incident and match
frames they were scored from, and the details of the incidents it has shown. So a second question
at the same time costs milliseconds, and anything stored in between (by this engine or by another
process) is seen by the next question.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import gc
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .coverage import NO_RECENT_REPORTS, route_coverage, segment_coverage, sources_polled
from .errors import InputFileError, InputRowError, NoRouteError, RiskEngineError
from .gazetteer import Gazetteer
from .identity import SameEvent
from .mapping import SegmentIndex
from .models import Segment
from .road_status import segment_statuses
from .roads import RoadNetwork
from .rules import RuleBook
from .schema import EVENT_DETAILS
from .scoring import (
    Assessment,
    RouteScore,
    as_days,
    score_route,
    segment_table,
    segment_table_from_days,
    standing_weights,
    weights_at,
)
from .store import ReportIn, Revision, Store, among
from .textfile import read_text
from .weights import SCORING_COLUMNS, Weigher, standing_rows
from .weights import scoring_frame as _scoring_frame

if TYPE_CHECKING:
    from .extract.extractor import Extractor
    from .extract.lexicon import Lexicon
    from .incident import Incident

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_RULES_DIR = PROJECT_DIR / "rules"
DEFAULT_SEEDS_DIR = PROJECT_DIR / "seeds"

#: The largest input file read: a text report (extraction takes about a second per MB), and a data
#: file (ACLED-style CSV, JSON lines, a saved feed).
MAX_TEXT_FILE_BYTES = 20_000_000
MAX_DATA_FILE_BYTES = 200_000_000


def read_input_file(path: Path, limit: int) -> str:
    """A file's text, or one clear error: missing, unreadable, not UTF-8, or over ``limit`` bytes."""
    return read_text(path, InputFileError, limit=limit)


#: What route scoring and a route's rows read of the contributions.
ROUTE_COLUMNS = ["incident_id", "segment_id", "rule_id", "weight", "relief", "confidence"]

#: An alternative route is offered only if it is at most this many times longer than the route.
ALTERNATIVE_MAX_DETOUR = 2.0

#: What the answers show of an event.
DETAIL_COLUMNS = EVENT_DETAILS
#: Nullable text columns among them (see :meth:`RiskEngine.event_details`).
NULLABLE_TEXT = ("sub_event_type",)


@dataclass
class IngestResult:
    """What one input file added to the store."""

    file: str
    format: str
    new_report: bool = False
    incidents_added: int = 0
    incidents_known: int = 0
    errors: list[InputRowError] = field(default_factory=list)


def _shared(*_args, **_kwargs):
    raise TypeError("this part of the answer is shared with other answers (the engine keeps it): copy it to change it")


class SharedDict(dict):
    """A read-only dict: a part of an answer the engine keeps and hands out again (copy it to change it)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _shared

    def __copy__(self) -> dict:
        return dict(self)

    def __deepcopy__(self, memo: dict) -> dict:
        return copy.deepcopy(dict(self), memo)

    def __reduce__(self):
        return dict, (dict(self),)


class SharedList(list):
    """A read-only list: a part of an answer the engine keeps and hands out again (copy it to change it)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = _shared
    sort = reverse = _shared

    def __copy__(self) -> list:
        return list(self)

    def __deepcopy__(self, memo: dict) -> list:
        return copy.deepcopy(list(self), memo)

    def __reduce__(self):
        return list, (list(self),)


@contextmanager
def _many_objects() -> Iterator[None]:
    """No cyclic garbage collection while many small objects are made at once (an answer's rows, a
    whole network read): they hold no cycles, and each collection would walk every object the
    engine keeps, which costs more than making them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _answering(method: Callable) -> Callable:
    """An answer made without cyclic garbage collection (:func:`_many_objects`): what it makes holds
    no cycles, and a collection in the middle of it would walk everything a service keeps (every
    row of the network, every answer row made), for more time than the answer itself takes. Garbage
    is still freed as it goes; the collector runs after the answer, between questions."""
    @functools.wraps(method)
    def answer(*args, **kwargs):
        with _many_objects():
            return method(*args, **kwargs)
    return answer


class _Read:
    """The contributions and scores of the segments one read brought (a route's): kept whole, and
    split by segment only when a later answer asks for some of them, not at the first answer."""

    def __init__(self, contributions: pd.DataFrame, table: pd.DataFrame):
        self.table = table  # index segment_id, as :func:`segment_table` makes it
        self._contributions = contributions
        self._groups: dict | None = None

    def contributions(self, segment_id: str) -> pd.DataFrame:
        """The contributions on ``segment_id`` alone, in order."""
        if self._groups is None:
            frame = self._contributions
            self._groups = frame.groupby("segment_id").indices if len(frame) else {}
        return self._contributions.take(self._groups.get(segment_id, np.empty(0, dtype=np.intp)))


class _Assessed:
    """The scores at one time, read as far as questions need them: the first answer reads only the
    segments it is about (their standing weights, from the store, and only their time decay is
    computed: a one-off command reads no more); a later answer about other segments, or one that
    needs every segment (``segments``, alerts, the map), reads the whole network once."""

    def __init__(self, now: dt.datetime, rules: RuleBook, segment_ids: Sequence[str],
                 standing: Callable[[Sequence[str] | None, dt.date | None, bool], pd.DataFrame],
                 scores: Callable[[], pd.DataFrame | None]):
        self.now = now
        self._rules = rules
        self._segment_ids = list(segment_ids)
        #: reads standing weights: of some segments (None: all), dated after a day (None: the horizon),
        #: those that weigh only (True) or those that tell coverage too
        self._standing = standing
        #: every segment's score from the store's day sums, without the contributions (None: the
        #: store has none that can be used, they are made from the contributions)
        self._scores = scores
        self._whole: Assessment | None = None
        self._parts: dict[str, _Read] = {}  # segment -> the read that brought its contributions and table row
        self._lock = threading.Lock()
        #: a route answer's row for each contribution shown so far, by (incident id, segment id)
        self.incident_rows: dict[tuple[str, str], SharedDict] = {}
        #: the answer rows of every contribution of the whole network, in its order, when made at once
        self.rows_in_order: np.ndarray | None = None
        self.all_rows_tried = False
        #: each segment's coverage and road status at this time (:mod:`riskengine.coverage`,
        #: :mod:`riskengine.road_status`); made on the first answer that shows them
        self.coverage: tuple[dict, dict] | None = None
        self.statuses: dict[str, dict] | None = None
        self.polled: tuple[bool, dt.datetime | None] | None = None  # when sources were last polled
        #: how many answers were given at this time: the first reads only the segments it needs
        #: (from the network's rows when the engine holds them)
        self.answers = 0

    def carried_over(self, changed: frozenset[str], touched: set[str] | None, statuses: bool
                     ) -> tuple[dict, tuple | None, dict | None]:
        """What an answer at this time after a change of the store can keep of this one: the answer
        rows of the events not in ``changed``, the coverage of the segments not ``touched`` (none
        when None: the sources were polled meanwhile), and the road statuses when ``statuses`` (no
        analyst set one, no changed event can set one) and none came from a changed event."""
        rows = {key: row for key, row in self.incident_rows.items() if key[0] not in changed}
        kept = self.statuses if statuses and self.statuses is not None and not any(
            st.get("event") in changed for st in self.statuses.values()) else None
        coverage = None
        if touched is not None and self.coverage is not None:
            per_segment, events_on = self.coverage
            coverage = ({s: c for s, c in per_segment.items() if s not in touched},
                        {s: e for s, e in events_on.items() if s not in touched})
        return rows, coverage, kept

    @property
    def whole(self) -> bool:
        """Whether the whole network's contributions have been read (a service, or a question about
        every incident)."""
        return self._whole is not None and self._whole.read

    def standing(self, segment_ids: Sequence[str] | None, since: dt.date | None) -> pd.DataFrame:
        """The standing weights of events dated after ``since`` on ``segment_ids`` (all when None),
        those that only tell coverage included."""
        return self._standing(segment_ids, since, False)

    @property
    def assessment(self) -> Assessment:
        """Every segment's score, and all the contributions behind them (read when first asked for,
        when the scores come from the store's day sums)."""
        if self._whole is None:
            def contributions() -> pd.DataFrame:
                return weights_at(self._rules, self._standing(None, None, True), self.now)

            table = self._scores()
            if table is None:
                contrib = contributions()
                whole = Assessment(self.now, contrib, segment_table(self._rules, self._segment_ids, contrib))
            else:
                whole = Assessment(self.now, contributions, table)
            with self._lock:
                if self._whole is None:
                    self._whole = whole
        return self._whole

    @cached_property
    def _positions(self) -> dict[str, np.ndarray]:
        """Where each segment's contributions are in the whole assessment (row positions, in order)."""
        contrib = self.assessment.contributions
        return {str(k): v for k, v in contrib.groupby("segment_id").indices.items()} if len(contrib) else {}

    @cached_property
    def lean(self) -> pd.DataFrame:
        """The columns a route's score and rows read, and where each row is in the whole (the place
        of its answer row)."""
        lean = self.assessment.contributions[ROUTE_COLUMNS]
        # segments as categories (quick to filter), each incident as a number (quick to de-duplicate)
        return lean.assign(segment_id=lean["segment_id"].astype("category"), row=np.arange(len(lean)),
                           incident_code=pd.factorize(lean["incident_id"])[0])

    def on(self, segment_ids: Sequence[str], *, lean: bool = False) -> Assessment:
        """The contributions on ``segment_ids`` alone (in event, then segment order, as in the whole
        assessment) and those segments' scores: :func:`score_route` gives the same answer from it.
        ``lean``: only the columns a route's score and rows need (:data:`ROUTE_COLUMNS`)."""
        wanted = list(dict.fromkeys(segment_ids))
        with self._lock:
            missing = [s for s in wanted if s not in self._parts]
        if missing and self.answers > 1:  # asked again, about other segments: a service; read all once
            whole = self.assessment
            whole.contributions  # noqa: B018 - read now
        else:
            whole = self._whole if self.whole else None
        if whole is not None:
            on = np.zeros(len(whole.contributions), dtype=bool)  # the rows on these segments, in order
            for s in wanted:
                if s in self._positions:
                    on[self._positions[s]] = True
            rows = np.flatnonzero(on)
            frame = self.lean if lean else whole.contributions
            return Assessment(self.now, frame.take(rows), whole.segments.loc[wanted])
        if missing:
            contrib = weights_at(self._rules, self._standing(missing, None, True), self.now)
            read = _Read(contrib, segment_table(self._rules, missing, contrib))
            with self._lock:
                for s in missing:
                    self._parts[s] = read
            if missing == wanted:  # all read now, in event then segment order already
                return Assessment(self.now, contrib, read.table)
        with self._lock:
            reads = [(self._parts[s], s) for s in wanted]
        contrib = pd.concat([r.contributions(s) for r, s in reads], ignore_index=True) if reads else weights_at(
            self._rules, pd.DataFrame(), self.now)
        if len(reads) > 1:
            contrib = contrib.sort_values(["incident_id", "segment_id"], kind="stable", ignore_index=True)
        table = pd.concat([r.table.loc[[s]] for r, s in reads]) if reads else segment_table(self._rules, [], contrib)
        return Assessment(self.now, contrib, table)

    @cached_property
    def _table_rows(self) -> dict[str, dict]:
        """Every segment's row of the whole table, by id (quicker to look up one at a time)."""
        return self.assessment.segments.to_dict("index")

    def segment(self, segment_id: str) -> dict:
        """One segment's score, level, level name, weight, kept share and incident count."""
        if self._whole is not None:
            return self._table_rows[segment_id]
        with self._lock:
            read = self._parts.get(segment_id)
        table = read.table if read is not None else self.on([segment_id]).segments
        return table.loc[segment_id].to_dict()


class RiskEngine:
    """Answers "how dangerous is this road, and why?" from the stored incidents."""

    #: How many assessments (different ``at``) are kept while the store does not change.
    ASSESSMENTS_KEPT = 4
    #: A service that has read the whole network makes the answer rows of all its incidents at once
    #: when there are at most this many (else, for each answer, those it shows).
    ROWS_MADE_AT_ONCE = 200_000
    #: How many reads of standing weights (the whole network's, or a route's segments') are kept.
    READS_KEPT = 64
    #: After a change of the store, the network's standing weights read before are patched with the
    #: changed events' rows when there are at most this many (else read again in full).
    PATCH_MAX_EVENTS = 20_000

    def __init__(self, store: Store | None, rules: RuleBook, gazetteer: Gazetteer, network: RoadNetwork,
                 lexicon: Lexicon | None = None, seeds_dir: Path | None = None):
        self.seeds_dir = Path(seeds_dir or DEFAULT_SEEDS_DIR)
        self.store = store
        self.rules = rules
        self.gazetteer = gazetteer
        self.network = network
        if lexicon is not None:
            self.__dict__["lexicon"] = lexicon  # else loaded on first use (:attr:`lexicon`)
        self.weigher = Weigher(rules)
        if store is not None:  # None: a question that reads no store (extract, places)
            store.same_event = SameEvent(rules, network)
            store.weigher = self.weigher
            store.group_migrated_events()
        self._lock = threading.Lock()
        self._revision: Revision | None = None  # of the store, when the caches below were filled
        self._assessed: OrderedDict[dt.datetime, _Assessed] = OrderedDict()
        #: whether the stored weights are these rules' and which events they miss; and the standing
        #: weights computed in memory when they are not (both for the current revision)
        self._weights: tuple[bool, frozenset[str]] | None = None
        self._in_memory: dict[tuple, pd.DataFrame] = {}
        self._read: dict[tuple, pd.DataFrame] = {}  # standing weights read, by day, horizon and segments
        self._sums: dict[tuple, tuple] = {}  # day sums and relieving rows read, by day and horizon
        self._network_index: dict[tuple, tuple] = {}  # where each segment's rows are in the network's
        #: by time: what answers at that time before the store changed made that the change did not touch
        self._carried: dict[dt.datetime, tuple[dict, tuple | None, dict | None]] = {}
        self._details: dict[str, dict[str, Any]] = {}
        self._text_in: dict[str, bool] = {}
        self._kept_reads: dict[tuple, Any] = {}  # see :meth:`kept_read`

    @classmethod
    def open(cls, db: str | None = None, rules_dir: Path | str | None = None,
             seeds_dir: Path | str | None = None, *, create: bool = True, store: bool = True) -> RiskEngine:
        """Load rules and seeds and open the store (``create``: create it when it does not exist;
        ``store`` False: open none, for questions that read no store)."""
        rules_dir = Path(rules_dir or DEFAULT_RULES_DIR)
        rules = RuleBook.load(rules_dir)
        seeds = Path(seeds_dir or DEFAULT_SEEDS_DIR)
        gazetteer = Gazetteer.load(seeds)
        network = RoadNetwork.load(seeds, gazetteer)
        return cls(Store.open(db, create=create) if store else None, rules, gazetteer, network, None, seeds)

    @cached_property
    def index(self) -> SegmentIndex:
        return SegmentIndex(self.network.segments)

    @cached_property
    def lexicon(self) -> Lexicon:
        """The extraction lexicon, loaded on first use: only extraction needs it, and loading it takes
        most of a second, which a question about a route should not wait for."""
        from .extract.lexicon import Lexicon  # noqa: PLC0415

        return Lexicon.load(self.rules.directory or DEFAULT_RULES_DIR, self.rules)

    @cached_property
    def extractor(self) -> Extractor:
        from .extract import regexscan  # noqa: PLC0415 - only extraction needs them
        from .extract.extractor import Extractor  # noqa: PLC0415

        extractor = Extractor(self.gazetteer, self.network, self.rules, self.lexicon)
        regexscan.keep_analyses()  # what was learnt of its patterns, for the next process
        return extractor

    # ---- extract ------------------------------------------------------------------------------

    def extract_text(self, text: str, published: dt.date, *, source_reliability: str | None = None
                     ) -> list[Incident]:
        """The incidents a text report describes; nothing is stored."""
        return self.extractor.extract(text, published, source_reliability=source_reliability)

    def touched_segments(self, found: list[Incident]) -> list[list[str]]:
        """For each incident, the segments where its rules give it weight (for display)."""
        matches = self.index.match(found, self.rules.max_reach_km, self.rules.area_margin_km)
        out = []
        for inc, hits in zip(found, matches, strict=True):
            rule = self.rules.resolve(inc.event_type, inc.sub_event_type, tuple(inc.tags))
            radius = inc.radius_km if inc.radius_km is not None else self.rules.precision_radius_km(inc.geo_precision)
            out.append([seg for seg, km in sorted(hits, key=lambda h: h[1])
                        if rule.severity > 0 and km - radius < rule.reach_km])
        return out

    def ingest_text(self, text: str, *, source: str, published: dt.date, now: dt.datetime,
                    source_ref: str | None = None, source_reliability: str | None = None,
                    title: str | None = None, source_key: str | None = None) -> IngestResult:
        """Extract a text report's incidents and store both."""
        found = self.extract_text(text, published, source_reliability=source_reliability)
        report = ReportIn(source=source, format="text", text=text, source_ref=source_ref, published=published,
                          title=title, source_key=source_key)
        return self.ingest_incidents(report, found, now=now)

    # ---- ingest -------------------------------------------------------------------------------

    def ingest_incidents(self, report: ReportIn, found: list[Incident], *, now: dt.datetime,
                         matches: list | None = None) -> IngestResult:
        """Map incidents onto the roads (unless their ``matches`` are given) and store them with their report."""
        for inc in found:
            self.rules.check_incident_kind(inc.event_type, inc.sub_event_type, inc.tags)
        if matches is None:
            matches = self.index.match(found, self.rules.max_reach_km, self.rules.area_margin_km)
        outcome = self.store.add_report(report, found, matches, now=now)
        if not self.store.deferring:
            self.refresh()
        return IngestResult(report.source_ref or report.source, report.format, outcome.new_report,
                            outcome.incidents_added, outcome.incidents_known)

    def _ingest_feed_document(self, text: str, *, source: str, where: str, now: dt.datetime,
                              published: dt.date | None, source_reliability: str | None) -> IngestResult:
        """An RSS or Atom document saved to a file: each entry is a report of its own (as when the
        feed is polled); an entry that cannot be read is reported and skipped."""
        from .sources import SourceError, feed_items  # noqa: PLC0415 - feedparser loads only for feeds

        failures: list = []
        try:
            items = feed_items(text, source, reliability=source_reliability, key_prefix=f"{where}#",
                               failures=failures, kind="file")
        except SourceError as exc:
            raise InputFileError(f"{where}: {exc}") from None
        result = IngestResult(where, "rss")
        result.errors = [InputRowError(where, 0, str(getattr(f, "error", f))) for f in failures]
        with self.store.weighing_deferred():  # the entries' events weighed once, at the end
            self._ingest_entries(items, result, source=source, where=where, now=now, published=published)
        return result

    def _ingest_entries(self, items: list, result: IngestResult, *, source: str, where: str, now: dt.datetime,
                        published: dt.date | None) -> None:
        for number, item in enumerate(items, 1):
            try:
                one = self.ingest_text(item.text, source=source, source_ref=item.url or where,
                                       source_key=item.key, published=item.published or published or now.date(),
                                       now=now, source_reliability=item.reliability, title=item.title)
            except RiskEngineError as exc:
                result.errors.append(InputRowError(where, number, f"entry {item.title or item.key!r}: {exc}"))
                continue
            result.new_report |= one.new_report
            result.incidents_added += one.incidents_added
            result.incidents_known += one.incidents_known

    def _mapped(self, found: list[Incident], lines: list[int], where: str) -> tuple[list[Incident], list, list]:
        """The rows that can be mapped onto the roads, with their matches; any row that cannot
        (whatever the fault) is reported by its line and skipped: one bad row never loses the file."""
        try:
            return found, self.index.match(found, self.rules.max_reach_km, self.rules.area_margin_km), []
        except Exception:  # find the culprits one by one: rare, and only then
            kept, matches, errors = [], [], []
            for inc, line in zip(found, lines, strict=True):
                try:
                    matches += self.index.match([inc], self.rules.max_reach_km, self.rules.area_margin_km)
                    kept.append(inc)
                except Exception as exc:
                    errors.append(InputRowError(where, line, f"cannot be mapped onto the roads: "
                                                             f"{type(exc).__name__}: {str(exc)[:160]}"))
            return kept, matches, errors

    def ingest_file(self, path: Path | str, *, fmt: str = "auto", published: dt.date | None = None,
                    now: dt.datetime) -> IngestResult:
        """Read one input file and store what it holds; malformed rows are reported and skipped."""
        from .structured import sniff_format  # noqa: PLC0415 - see ingest_content

        path = Path(path)
        kind = sniff_format(path) if fmt == "auto" else fmt
        text = read_input_file(path, MAX_TEXT_FILE_BYTES if kind == "text" else MAX_DATA_FILE_BYTES)
        return self.ingest_content(text, kind=kind, source=path.name, source_ref=str(path), published=published,
                                   now=now)

    def ingest_content(self, text: str, *, kind: str, source: str, now: dt.datetime, source_ref: str | None = None,
                       source_key: str | None = None, published: dt.date | None = None,
                       source_reliability: str | None = None, title: str | None = None) -> IngestResult:
        """Store one report of any format: a text report is extracted, structured rows are read."""
        if kind == "text":
            return self.ingest_text(text, source=source, source_ref=source_ref, source_key=source_key,
                                    published=published or now.date(), now=now,
                                    source_reliability=source_reliability, title=title)
        # structured rows are validated as Incidents (pydantic): imported here, not by a question
        from .structured import read_acled_csv, read_incident_jsonl  # noqa: PLC0415

        where = source_ref or source
        if kind == "rss":
            return self._ingest_feed_document(text, source=source, where=where, now=now, published=published,
                                              source_reliability=source_reliability)
        if kind == "acled":
            read = read_acled_csv(where, text=text)
        elif kind == "jsonl":
            read = read_incident_jsonl(where, text=text)
        else:
            raise InputFileError(f"{where}: format {kind!r} is not supported (use text, rss, acled or jsonl)")
        kept, lines, errors = [], [], list(read.errors)
        for inc, line in zip(read.incidents, read.line_numbers, strict=True):
            try:
                self.rules.check_incident_kind(inc.event_type, inc.sub_event_type, inc.tags)
                for seg in inc.segments:
                    self.network.segment(seg)
            except (ValueError, LookupError) as exc:
                errors.append(InputRowError(where, line, str(exc).strip("'\"")))
                continue
            if source_reliability and not inc.source_reliability:
                inc = inc.model_copy(update={"source_reliability": source_reliability})
            kept.append(inc)
            lines.append(line)
        kept, matches, bad = self._mapped(kept, lines, where)
        errors += bad
        report = ReportIn(source=source, format=kind, text=text, source_ref=source_ref, published=published,
                          source_key=source_key, title=title)
        result = self.ingest_incidents(report, kept, now=now, matches=matches)
        result.errors = sorted(errors, key=lambda e: e.line)
        return result

    # ---- questions ----------------------------------------------------------------------------

    @_answering
    def assess(self, at: dt.datetime) -> Assessment:
        """Every segment's score at ``at``, from incidents dated on or before it.

        The result is kept while the store does not change: do not modify its frames.
        """
        return self._assessed_at(at).assessment

    def refresh(self) -> None:
        """Bring what the engine keeps up to date with the store now: a writer calls it after its
        writes (an ingest, a poll) so that the next question does not pay for reading the change.
        Nothing happens for an engine that has answered nothing yet."""
        if self._revision is not None:
            self._current()

    def _current(self) -> Revision:
        """The store's revision; the caches are emptied when it has moved on, except what the change
        cannot have touched: the network's standing weights read before are kept, with the rows of
        the events changed since (each change to an event is in the audit trail) read again."""
        revision = self.store.revision()
        with self._lock:
            old = self._revision
            if revision == old:
                return revision
            self._revision = revision
            answered = list(self._assessed.values())
            self._assessed.clear()
            self._carried = {}
            kept = self._weights_kept(old, revision)
            # the network's rows that count (what every other read is made from): patched below
            carried = {k: v for k, v in self._read.items()
                       if k[2] is None and k[3] is False and k[1] == k[0] - dt.timedelta(days=self.rules.horizon_days)
                       } if kept else {}
            self._weights = (True, frozenset()) if kept else None
            self._in_memory = {}
            self._read = {}
            self._sums = {}
            self._network_index = {}
            self._text_in = {}
            self._kept_reads = {}
            details, self._details = self._details, {}
        if carried:
            changed = self.store.events_changed(after=old.audit)
            if len(changed) <= self.PATCH_MAX_EVENTS:
                patched, touched = {}, set()
                for key, frame in carried.items():
                    patched[key], on = self._patched(frame, key, changed)
                    touched |= on
                kept_details = {i: d for i, d in details.items() if i not in changed}
                # what answers at the same times made of the events that did not change
                same_poll = old is not None and old.polled == revision.polled
                statuses_kept = old is not None and old.status == revision.status and not self._sets_status(changed)
                answers = {a.now: a.carried_over(changed, touched if same_poll else None, statuses_kept)
                           for a in answered}
                with self._lock:
                    if self._revision == revision:
                        self._read.update(patched)
                        self._details.update(kept_details)
                        self._carried = answers
        return revision

    def kept_read(self, key: tuple, read: Callable[[], Any]) -> Any:
        """What ``read()`` reads from the store, read once while the store does not change (a question
        at a new time, as a service asks at the time it is asked, reads it again only on another
        day): for reads that depend on the day, not on the time. Do not modify what it returns."""
        self._current()
        with self._lock:
            known = self._kept_reads
            if key in known:
                return known[key]
        value = read()
        with self._lock:
            if known is self._kept_reads:  # not emptied meanwhile by a change of the store
                known[key] = value
        return value

    def _sets_status(self, changed: frozenset[str]) -> bool:
        """Whether any of the ``changed`` events now carries a tag that sets a road status."""
        tags = self.rules.road_status.from_tags
        if not changed or not tags:
            return False
        frame = self.store.events_frame(columns=("tags",), ids=changed, active=False)
        return any(t in tags for event_tags in frame["tags"].tolist() for t in (event_tags or ()))

    def _weights_kept(self, old: Revision | None, new: Revision) -> bool:
        """Whether standing weights read at revision ``old`` can be brought to ``new`` by reading again
        only the events audited since: the store moved on (not back, as to a restored copy) and its
        weights were, and still are, these rules' with none left unweighed."""
        if old is None or self._weights != (True, frozenset()):
            return False
        if new.report < old.report or new.audit < old.audit or new.status < old.status:
            return False
        return self.store.weights_state(self.weigher.fingerprint) == (True, [])

    def _patched(self, frame: pd.DataFrame, key: tuple, changed: frozenset[str]) -> tuple[pd.DataFrame, set[str]]:
        """``frame`` (the network's standing weights read for ``key``, in event then segment order)
        with the rows of ``changed`` events read again, in the same order; and the segments those
        events were or are on."""
        if not changed:
            return frame, set()
        until, since, _, weighing = key
        fresh = self.store.event_weights_frame(until, since=since, events=changed, weighing=weighing)
        gone = frame["incident_id"].isin(changed).to_numpy()
        touched = set(frame["segment_id"].to_numpy()[gone].tolist()) | set(fresh["segment_id"].tolist())
        kept = frame[~gone] if gone.any() else frame
        if fresh.empty:
            return kept.reset_index(drop=True), touched
        # the few fresh rows (sorted) slot in before the first kept row of a later event: a merge,
        # not a sort of the whole network's rows
        at = np.searchsorted(kept["incident_id"].to_numpy(), fresh["incident_id"].to_numpy(), side="left")
        place = np.concatenate([np.arange(len(kept), dtype=float),
                                at - 1.0 + np.arange(1, len(fresh) + 1) / (len(fresh) + 1)])
        rows = pd.concat([kept, fresh], ignore_index=True)
        return rows.take(np.argsort(place, kind="stable")).reset_index(drop=True), touched

    def _assessed_at(self, at: dt.datetime) -> _Assessed:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("now must be timezone-aware (UTC)")
        now = at.astimezone(dt.UTC)
        revision = self._current()
        with self._lock:
            hit = self._assessed.get(now)
            if hit is not None:
                self._assessed.move_to_end(now)
                return hit
        until = now.date()
        # events older than any rule's horizon weigh nothing: they are not read (an index on the date)
        horizon = until - dt.timedelta(days=self.rules.horizon_days)

        # this engine answered at another time of this day: a service, which asks at the time each
        # question comes; it reads the whole network once rather than each question's segments
        with self._lock:
            service = any(a.answers for t, a in self._assessed.items() if t.date() == until)

        def standing(segments: Sequence[str] | None, since: dt.date | None, weighing: bool) -> pd.DataFrame:
            return self.standing_weights(until, max(since or horizon, horizon), segments, weighing=weighing,
                                         whole=service)

        def scores() -> pd.DataFrame | None:
            return self.segment_scores(now, horizon)

        entry = _Assessed(now, self.rules, [s.id for s in self.network.segments], standing, scores)
        with self._lock:  # what answers at this time made before the store changed, that the change did not touch
            entry.incident_rows, entry.coverage, entry.statuses = self._carried.pop(now, ({}, None, None))
        with self._lock:
            if revision == self._revision:  # the store did not move on meanwhile
                self._assessed[now] = entry
                while len(self._assessed) > self.ASSESSMENTS_KEPT:
                    self._assessed.popitem(last=False)
        return entry

    def standing_weights(self, until: dt.date, since: dt.date, segments: Sequence[str] | None = None, *,
                         weighing: bool = False, whole: bool = False) -> pd.DataFrame:
        """The standing weights (:func:`riskengine.scoring.standing_weights`) of the active events
        dated after ``since`` and on or before ``until``, on ``segments`` (all when None): read from
        the store when its weights are these rules' (the few events a writer without rules left
        unweighed are weighed here), else all weighed here from the events, once per revision.
        ``whole``: read the whole network's rows (once, then kept) rather than those of ``segments``."""
        current, stale = self._weights_state()
        if not current:
            return _kept(self._weighed_in_memory(until, since, None), until, since, segments, weighing)
        horizon = until - dt.timedelta(days=self.rules.horizon_days)
        key = (until, since, tuple(segments) if segments is not None else None, weighing)
        network_key = (until, horizon, None, False)
        with self._lock:
            rows = self._read.get(key)
            network = self._read.get(network_key) if key != network_key else None
        if rows is not None:
            return rows
        if since >= horizon and (since, weighing) != (horizon, False):
            # one read of every row that counts on these segments serves scores and coverage alike
            rows = _kept(self.standing_weights(until, horizon, segments, whole=whole), until, since, None, weighing)
        elif network is not None:  # the network's rows are in hand (read before, kept over a change)
            rows = self._network_rows(network_key, network, segments)
        elif whole and segments is not None and (since, weighing) == (horizon, False):
            rows = self._network_rows(network_key, self.standing_weights(until, horizon), segments)
        else:
            with _many_objects():
                rows = self.store.event_weights_frame(until, since=since, segments=segments, weighing=weighing)
            if stale:
                mine = _kept(self._weighed_in_memory(until, since, stale), until, since, segments, weighing)
                rows = rows[~rows["incident_id"].isin(stale)]
                rows = pd.concat([rows, mine], ignore_index=True).sort_values(
                    ["incident_id", "segment_id"], kind="stable", ignore_index=True)
        with self._lock:
            self._read[key] = rows
            while len(self._read) > self.READS_KEPT:
                del self._read[next(k for k in self._read if k != network_key)]
        return rows

    def _network_rows(self, key: tuple, network: pd.DataFrame, segments: Sequence[str]) -> pd.DataFrame:
        """The rows of ``network`` (the whole network's, read for ``key``) on ``segments``, in order."""
        with self._lock:
            known = self._network_index.get(key)
        if known is None or known[0] is not network:
            known = (network, network.groupby("segment_id").indices if len(network) else {})
            with self._lock:
                self._network_index[key] = known
        parts = [known[1][s] for s in dict.fromkeys(segments) if s in known[1]]
        return network.take(np.sort(np.concatenate(parts)) if parts else []).reset_index(drop=True)

    def segment_scores(self, now: dt.datetime, since: dt.date) -> pd.DataFrame | None:
        """Every segment's score at ``now`` (events dated after ``since``) from the store's day sums
        (:func:`riskengine.scoring.segment_table_from_days`); None when the store's weights are not
        these rules' or some events are not weighed yet: the scores are then made from the
        contributions."""
        current, stale = self._weights_state()
        if not current or stale:
            return None
        until = now.date()
        with self._lock:
            read = self._sums.get((until, since))
        if read is None:
            read = (self.store.segment_days_frame(until, since),
                    self.store.event_weights_frame(until, since=since, weighing=True, relieving=True))
            with self._lock:
                self._sums[(until, since)] = read
        days, relieving = read
        return segment_table_from_days(self.rules, [s.id for s in self.network.segments], days, relieving, now)

    def stored_statuses_current(self) -> bool:
        """Whether the road statuses kept in the store are what these rules make of the events (their
        statuses rules, no event left unweighed): read from there, else found from the events."""
        return self.store.statuses_current(self.weigher.statuses_fingerprint)

    def _weights_state(self) -> tuple[bool, frozenset[str]]:
        """Whether the stored weights are these rules', and the events left unweighed (read once per revision)."""
        with self._lock:
            state = self._weights
        if state is None:
            current, stale = self.store.weights_state(self.weigher.fingerprint)
            state = (current, frozenset(stale))
            with self._lock:
                self._weights = state
        return state

    def _weighed_in_memory(self, until: dt.date, since: dt.date, ids: frozenset[str] | None) -> pd.DataFrame:
        """Standing weights computed here from the stored events (all active ones dated after
        ``since``, or those of ``ids``), kept for the revision."""
        key = (until, since, ids)
        with self._lock:
            known = self._in_memory.get(key)
        if known is not None:
            return known
        if ids is None:
            rows = standing_weights(self.rules, self.scoring_frame(until, since),
                                    self.store.event_matches_frame(until, since=since))
        else:
            from .schema import events  # noqa: PLC0415
            from .weights import read_events  # noqa: PLC0415

            with self.store.engine.connect() as conn:
                rows = standing_rows(self.rules, *read_events(conn, among(events.c.id, ids, conn.dialect.name)))
        with self._lock:
            self._in_memory[key] = rows
        return rows

    def scoring_frame(self, until: dt.date | None = None, since: dt.date | None = None) -> pd.DataFrame:
        """The active events dated on or before ``until`` (and after ``since``), as scoring reads them:
        their kind, date, place precision and death toll, and the confidence their reports give together."""
        frame = self.store.events_frame(until, columns=SCORING_COLUMNS, since=since)
        return _scoring_frame(self.rules, frame, self.store.event_reports_frame(until, since=since))

    def event_details(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What the answers show of these incidents, read from the store once per revision.

        The values are those the frame of the whole incidents table gave before, which these answers
        were built from: there a missing text is NaN (not None) as soon as any incident has one.
        """
        with self._lock:
            known = self._details
            missing = [i for i in dict.fromkeys(ids) if i not in known]
        if missing:
            with _many_objects():
                records = self.store.event_records(missing, DETAIL_COLUMNS)
            for column in NULLABLE_TEXT:
                if column not in self._text_in and any(not isinstance(r[column], str) for r in records):
                    self._text_in[column] = self.store.any_incident_has(column)
            read = {}
            for record in records:
                for column in NULLABLE_TEXT:
                    if not isinstance(record[column], str):
                        record[column] = math.nan if self._text_in.get(column) else None
                read[record["id"]] = record
            with self._lock:
                if known is self._details:  # not emptied meanwhile
                    known.update(read)
            return {i: read[i] if i in read else known[i] for i in ids}
        return {i: known[i] for i in ids}

    def _coverage(self, assessed: _Assessed, segment_ids: Sequence[str] | None = None) -> tuple[dict, dict]:
        """The coverage of ``segment_ids`` (all when None) at the assessment's time, each segment
        worked out once (from the standing weights of the recent window on it)."""
        wanted = [s.id for s in self.network.segments] if segment_ids is None else list(segment_ids)
        if assessed.coverage is None:
            assessed.coverage = ({}, {})
        per_segment, events_on = assessed.coverage
        missing = [s for s in dict.fromkeys(wanted) if s not in per_segment]
        if missing:
            if assessed.polled is None:
                assessed.polled = sources_polled(self)
            recent = assessed.now.date() - dt.timedelta(days=self.rules.scoring.coverage.recent_days)
            if assessed.whole:  # a service reading the whole network: every segment's coverage at once
                missing = [s.id for s in self.network.segments if s.id not in per_segment]
            everything = assessed.whole or len(missing) == len(self.network.segments)
            standing = assessed.standing(None if everything else missing, recent)
            out, ids = segment_coverage(self, assessed.now, standing, missing, assessed.polled)
            with self._lock:
                per_segment.update(out)
                events_on.update(ids)
        return per_segment, events_on

    def _statuses(self, assessed: _Assessed) -> dict[str, dict]:
        if assessed.statuses is None:
            assessed.statuses = segment_statuses(self, assessed.now)
        return assessed.statuses

    def _level_name(self, level: int, name: str, covered: bool) -> str:
        """A quiet level with too little to rest on is "No recent reports", never a bare "Insignificant"."""
        return NO_RECENT_REPORTS if level == 1 and not covered else name

    def _segment_row(self, assessed: _Assessed, seg: Segment, start: str, end: str) -> dict:
        s = assessed.segment(seg.id)
        coverage = self._coverage(assessed, [seg.id])[0][seg.id]
        level = int(s["level"])
        return {
            "id": seg.id, "name": seg.name, "road": seg.road_name, "from": start, "to": end,
            "length_km": round(seg.length_km, 1), "score": round(float(s["score"]), 1),
            "level": level, "level_name": self._level_name(level, s["level_name"], coverage["covered"]),
            "incidents": int(s["incidents"]), "status": dict(self._statuses(assessed)[seg.id]),
            "coverage": dict(coverage),
        }

    def _segment_rows(self, assessed: _Assessed, path_segments: list[Segment], via: list[str]) -> list[dict]:
        return [self._segment_row(assessed, seg, via[i], via[i + 1]) for i, seg in enumerate(path_segments)]

    def _incident_rows(self, assessed: _Assessed, weights: pd.DataFrame) -> list[dict]:
        """A route answer's row for each of ``weights`` (a route's incidents, each where it weighs most).

        Rows are made once per assessment and handed out again rather than made afresh for each
        answer: answers list thousands of incidents when the store holds many, and making that many
        objects per answer costs more than the rest of it (with the garbage collections they bring).
        """
        if weights.empty:
            return []
        if assessed.whole and "row" in weights.columns:
            if not assessed.all_rows_tried:
                # a service answering about the whole network: the rows of every incident where it
                # weighs, made at once (when not too many), rather than some for each answer
                assessed.all_rows_tried = True
                every = assessed.lean
                if len(every) <= self.ROWS_MADE_AT_ONCE:
                    made = assessed.incident_rows  # those made before (by answers, or carried over a change)
                    keys = list(zip(every["incident_id"].tolist(), every["segment_id"].tolist(), strict=True))
                    missing = [i for i, key in enumerate(keys) if key not in made]
                    if missing:
                        self._make_rows(made, every.take(missing))
                    rows = np.empty(len(every), dtype=object)
                    rows[:] = [made[key] for key in keys]
                    assessed.rows_in_order = rows
            if assessed.rows_in_order is not None:
                return assessed.rows_in_order[weights["row"].to_numpy()].tolist()
        keys = list(zip(weights["incident_id"].tolist(), weights["segment_id"].tolist(), strict=True))
        made = assessed.incident_rows
        missing = [i for i, key in enumerate(keys) if key not in made]
        if missing:
            self._make_rows(made, weights.take(missing))
        return [made[key] for key in keys]

    def _make_rows(self, made: dict[tuple[str, str], SharedDict], weights: pd.DataFrame) -> None:
        """Make the answer rows of ``weights`` (contributions) into ``made``, by (incident, segment);
        called inside an answer (no cyclic GC meanwhile: :func:`_answering`)."""
        details = self.event_details(list(dict.fromkeys(weights["incident_id"].tolist())))
        fresh = {}
        days: dict[dt.date, str] = {}  # each day written once (a few hundred days among thousands of rows)
        # events with equal tags or sources share one decoded list (:meth:`Store.event_records`):
        # their rows share one read-only copy of it
        lists: dict[int, SharedList] = {}
        # the numbers as Python floats already (tolist), so no float() per value; reliefs and
        # confidences take a few values: each rounded once
        for incident_id, segment, weight, relief, rule, confidence in zip(
                weights["incident_id"].tolist(), weights["segment_id"].tolist(),
                weights["weight"].to_numpy(dtype=float).tolist(), _rounded(weights["relief"], 4),
                weights["rule_id"].tolist(), _rounded(weights["confidence"], 3), strict=True):
            inc = details[incident_id]
            day = days.get(inc["date"])
            if day is None:
                day = days[inc["date"]] = inc["date"].isoformat()
            tags, sources = lists.get(id(inc["tags"])), lists.get(id(inc["sources"]))
            if tags is None:
                tags = lists[id(inc["tags"])] = SharedList(inc["tags"] or ())
            if sources is None:
                sources = lists[id(inc["sources"])] = SharedList(inc["sources"] or ())
            fresh[(incident_id, segment)] = SharedDict({
                "id": inc["id"], "event_type": inc["event_type"], "sub_event_type": inc["sub_event_type"],
                "tags": tags, "date": day,
                "weight": round(weight, 4), "relief": relief,
                "segment": segment, "rule": rule,
                "summary": inc["summary"] or inc["evidence"][:160],
                "confidence": confidence, "evidence": inc["evidence"],
                "sources": sources, "reports": int(inc["reports"]),
            })
        with self._lock:
            made.update(fresh)

    @_answering
    def route(self, start: str, end: str, at: dt.datetime) -> dict[str, Any]:
        """The risk of the road route between two places at ``at``, as the CLI's JSON document.

        The rows of ``incidents`` are kept by the engine and shared with other answers, so they are
        read-only (:class:`SharedDict`); ``copy.deepcopy`` the answer to change them.
        """
        a, b = self.gazetteer.resolve(start), self.gazetteer.resolve(end)
        assessed = self._assessed_at(at)
        assessed.answers += 1
        statuses = self._statuses(assessed)
        closed = frozenset(s for s, st in statuses.items() if st["status"] == "closed")
        direct = self.network.path(a.name, b.name)
        path, avoided = direct, []
        closed_on_direct = [s.id for s in direct.segments if s.id in closed]
        if closed_on_direct:
            try:
                path, avoided = self.network.path(a.name, b.name, avoid=closed), closed_on_direct
            except NoRouteError:
                path = direct  # no open way round: the route is told with its closed segments
        route_ids = [s.id for s in path.segments]
        route = score_route(self.rules, assessed.on(route_ids, lean=True), route_ids)
        coverage = route_coverage(*self._coverage(assessed, route_ids), route_ids)
        closed_on_route = [s for s in route_ids if s in closed]
        doc = {
            "from": a.name, "to": b.name, "at": assessed.now.isoformat(),
            "score": round(route.score, 1), "level": route.level,
            "level_name": self._level_name(route.level, route.level_name, coverage["covered"]),
            "distance_km": round(path.length_km, 1), "via": list(path.via),
            "segments": self._segment_rows(assessed, path.segments, path.via),
            "worst_segment": route.worst_segment,
            "incidents": self._incident_rows(assessed, route.incidents),
            "alternative": self._alternative(assessed, a.name, b.name, path, route, closed),
            "status": "closed" if closed_on_route else "open",
            "closed_segments": [dict(statuses[s]) for s in closed_on_route],
            "avoided_closed": [dict(statuses[s]) for s in avoided],
            "coverage": coverage,
        }
        return doc

    def _alternative(self, assessed: _Assessed, start: str, end: str, path, route: RouteScore,
                     closed: frozenset[str] = frozenset()) -> dict | None:
        """A safer route that avoids the worst segment (and closed ones), if there is one within a sensible detour."""
        if route.worst_segment is None:
            return None
        try:
            other = self.network.path(start, end, avoid=frozenset({route.worst_segment}) | closed)
        except NoRouteError:
            return None
        if other.length_km > ALTERNATIVE_MAX_DETOUR * path.length_km:
            return None
        other_ids = [s.id for s in other.segments]
        alt = score_route(self.rules, assessed.on(other_ids, lean=True), other_ids)
        if alt.score >= route.score:
            return None  # no safer way round
        return {
            "avoids": route.worst_segment, "score": round(alt.score, 1), "level": alt.level,
            "level_name": alt.level_name, "distance_km": round(other.length_km, 1), "via": list(other.via),
            "segments": self._segment_rows(assessed, other.segments, other.via),
        }

    @_answering
    def score_segments(self, segment_ids: Sequence[str], at: dt.datetime) -> RouteScore:
        """The score of a stretch made of ``segment_ids`` (a route's, or those near a place) at
        ``at``, each incident counted once: what :func:`score_route` gives from the whole
        assessment, from only these segments' rows (a service asked about many reads the whole
        network once)."""
        assessed = self._assessed_at(at)
        assessed.answers += 1
        ids = list(segment_ids)
        return score_route(self.rules, assessed.on(ids), ids)

    @_answering
    def segments(self, at: dt.datetime) -> dict[str, Any]:
        """Every segment with its score and level at ``at``."""
        assessed = self._assessed_at(at)
        assessed.assessment  # noqa: B018 - every score at once
        self._coverage(assessed)
        rows = [self._segment_row(assessed, seg, seg.start, seg.end) for seg in self.network.segments]
        return {"at": assessed.now.isoformat(), "segments": rows}

    @_answering
    def explain(self, segment_id: str, at: dt.datetime) -> dict[str, Any]:
        """The incidents and rules behind one segment's score, factor by factor."""
        seg = self.network.segment(segment_id)
        assessed = self._assessed_at(at)
        assessed.answers += 1
        s = assessed.segment(seg.id)
        mine = assessed.on([seg.id]).contributions.sort_values("weight", ascending=False)
        coverage = self._coverage(assessed, [seg.id])[0][seg.id]
        incidents = self.event_details(mine["incident_id"].tolist()) if len(mine) else {}
        items = []
        for _, c in mine.iterrows():
            inc = incidents[c["incident_id"]]
            items.append({
                "id": c["incident_id"], "date": inc["date"].isoformat(), "event_type": inc["event_type"],
                "sub_event_type": inc["sub_event_type"], "tags": list(inc["tags"] or []),
                "rule": c["rule_id"], "severity": round(float(c["severity"]), 3),
                "age_days": round(float(c["age_days"]), 1), "time_decay": round(float(c["time_decay"]), 3),
                "distance_km": round(float(c["distance_km"]), 1), "gap_km": round(float(c["gap_km"]), 1),
                "distance_decay": round(float(c["distance_decay"]), 3),
                "confidence": round(float(c["confidence"]), 3),
                "fatalities_boost": round(float(c["fatalities_boost"]), 3), "weight": round(float(c["weight"]), 4),
                "relief": round(float(c["relief"]), 4),
                "summary": inc["summary"], "evidence": inc["evidence"], "source": ", ".join(inc["sources"] or []),
                "sources": list(inc["sources"] or []), "reports": int(inc["reports"]),
            })
        return {
            "segment": {"id": seg.id, "name": seg.name, "road": seg.road_name, "from": seg.start, "to": seg.end,
                        "length_km": round(seg.length_km, 1)},
            "at": assessed.now.isoformat(), "score": round(float(s["score"]), 1), "level": int(s["level"]),
            "level_name": self._level_name(int(s["level"]), s["level_name"], coverage["covered"]),
            "total_weight": round(float(s["weight"]), 4), "kept": round(float(s["kept"]), 4),
            "status": dict(self._statuses(assessed)[seg.id]), "coverage": dict(coverage),
            "formula": "weight = severity x time_decay x distance_decay x confidence x fatalities_boost; "
                       "kept = product of (1 - relief) over reopenings and truces; "
                       f"score = 100 x (1 - exp(-sum(weight) x kept / {self.rules.scoring.saturation:g}))",
            "incidents": items,
        }


def _rounded(values: pd.Series, digits: int) -> list[float]:
    """``round(value, digits)`` of each value, each distinct value rounded once (Python's rounding,
    exactly as the answers always showed it)."""
    distinct, where = np.unique(values.to_numpy(dtype=float), return_inverse=True)
    rounded = [round(value, digits) for value in distinct.tolist()]
    return [rounded[i] for i in where.tolist()]


def _kept(rows: pd.DataFrame, until: dt.date, since: dt.date, segments: Sequence[str] | None,
          weighing: bool = False) -> pd.DataFrame:
    """Standing weights of events dated after ``since`` that still count (``weighing``: still weigh)
    on ``until``, on ``segments`` (all when None): as :meth:`Store.event_weights_frame` reads them."""
    if rows.empty:
        return rows
    keep = as_days(rows["date"].to_numpy()) > np.datetime64(since, "D")
    last = rows["weighs_until" if weighing else "counts_until"].to_numpy()
    keep &= as_days(last) >= np.datetime64(until, "D")
    if segments is not None:
        keep &= rows["segment_id"].isin(list(segments)).to_numpy()
    return rows[keep] if not keep.all() else rows
