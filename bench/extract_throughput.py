"""Extraction throughput: how many text reports per second ``RiskEngine.extract_text`` reads on one core.

The reports are generated (seeded, so every run reads the same text): a few incident sentences about
towns on the road network, with spatial and date phrases, padded with background sentences to about
300 words; some reports describe no incident at all. Only the extraction calls are timed, after a
warm-up, in CPU time (``time.process_time``): on a machine shared with other work, wall time counts
the waits for a core too. Then a size sweep: one report made of many generated reports, from 100 KB to
20 MB, to show that extraction time grows linearly with the length of a report (seconds per MB stay
flat); the 1 MB report's time is checked against its target (under 2 s).

``--baseline REV`` times the code of a git revision on the same reports, side by side with this code:
a second process runs that revision's package, and the two take turns, a few reports each, so that
whatever else the machine is doing weighs on both alike; then the ratio is printed.
``--stages`` times, report by report in turn with the whole, the part of reading that must see all of
a report whatever it tells (every lexicon category matched over the whole text,
``Extractor.lexicon_matches``) and prints what the rest of reading costs against the time a report has
at the target rate: what would be left if that matching cost nothing.
Run: ``python bench/extract_throughput.py [--reports N] [--seed S] [--profile] [--sweep KB,KB,...]
[--baseline REV] [--stages]``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import math
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from riskengine.engine import DEFAULT_SEEDS_DIR, RiskEngine
from riskengine.gazetteer import Gazetteer, arabic_name
from riskengine.models import Place

TARGET_PER_SECOND = 2000.0
TARGET_AR_PER_SECOND = 300.0
#: Seconds within which one 1 MB report must be read.
TARGET_MB_SECONDS = 2.0
PROJECT_DIR = Path(__file__).resolve().parents[1]
TARGET_WORDS = 300
#: Report sizes (KB) of the sweep: a long feed item, a file dump, a whole archive pasted as one text.
SWEEP_KB = (100, 400, 1024, 1600, 6400, 20480)
WARM_UP = 50
#: Share of the generated reports that describe no incident.
QUIET_SHARE = 0.15

# ---- sentence material ------------------------------------------------------------------------
# {loc} is a spatial phrase, {when} a date phrase, {a} and {b} town names.

INCIDENTS = [
    "Gunmen ambushed a convoy of pick-up trucks {loc} {when}, killing two drivers.",
    "An armed group set up a false checkpoint {loc} and kidnapped three travellers {when}.",
    "A merchant was abducted at a checkpoint {loc} {when}, according to his relatives.",
    "Heavy clashes broke out between rival brigades {loc} {when}.",
    "Fighting between two armed factions {loc} left four fighters dead {when}.",
    "A drone strike hit a vehicle {loc} {when}; the number of casualties is not known.",
    "An unidentified aircraft bombed a farm {loc} {when}.",
    "A car ran over a landmine {loc} {when}, wounding a family of five.",
    "Two shepherds were injured when an old mine went off {loc} {when}.",
    "Armed men robbed a lorry carrying fuel {loc} {when} and took the driver's phone.",
    "Bandits stopped a truck loaded with flour {loc} {when} and stole the cargo.",
    "Residents reported a heavy armed presence {loc} {when}, with technicals patrolling the road.",
    "Militiamen closed the road {loc} {when}, leaving hundreds of vehicles stranded.",
    "Protesters blocked the coastal road {loc} {when} with burning tyres.",
    "Security forces exchanged fire with smugglers {loc} {when}.",
]

#: Phrases about one town ({a}); {d} is a compass direction drawn at random.
SPATIAL_ONE = [
    "near {a}",
    "on the outskirts of {a}",
    "{km} km {d} of {a}",
    "in the desert {d} of {a}",
    "at the southern gate of {a}",
    "in {a}",
]
#: Phrases about two neighbouring towns on one road segment; {d} is the real direction from {a} to {b}.
SPATIAL_TWO = [
    "between {a} and {b}",
    "on the road from {a} to {b}",
    "{km} km {d} of {a} on the road to {b}",
    "on the highway linking {a} with {b}",
]

WHEN = [
    "on Monday", "on Tuesday", "on Wednesday", "late on Saturday", "early on Sunday", "last week",
    "on {day} {month}", "yesterday", "on Thursday night", "this morning",
]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]

FILLER = [
    "The road is the main link between the coast and the southern oil fields and carries most of the fuel trade.",
    "Travellers say the journey now takes twice as long as it did a few years ago because of the checkpoints.",
    "\"We drive only in daylight and never alone,\" said a lorry driver who makes the trip every week.",
    "A spokesman for the local council said the situation was under control and urged calm.",
    "The town was the scene of heavy fighting in 2011, when rebels and loyalist forces battled for months.",
    "During the 2014 conflict several bridges on this stretch were damaged and have never been fully repaired.",
    "Fuel prices in {a} have tripled since the summer, and queues at petrol stations stretch for hundreds of metres.",
    "Farmers around {a} complain that the price of fertiliser and animal feed keeps rising.",
    "The central bank announced new measures to ease the shortage of cash in the southern regions.",
    "Temperatures are expected to exceed 40 degrees this week, and a sandstorm may reduce visibility on the roads.",
    "Heavy rain flooded several streets in {a} last winter, cutting electricity for two days.",
    "Local elders from {a} and {b} met to discuss the reopening of the market and the return of displaced families.",
    "The municipality plans to resurface the road between {a} and {b} once funding is approved.",
    "Aid agencies say thousands of migrants pass through the area every month on their way north to the coast.",
    "Schools in {a} reopened after the holiday, although many teachers have not been paid for months.",
    "Mobile phone coverage is patchy outside the towns, which makes it hard to call for help on the road.",
    "Analysts note that control of the highway has shifted several times between rival forces since 2019.",
    "The hospital in {a} lacks basic medicines and relies on donations from abroad.",
    "Oil production resumed at a nearby field after a shutdown that lasted several weeks.",
    "Officials in {a} said talks on forming a unified security force would continue next month.",
    "A new bus service between {a} and {b} started running twice a week in the spring.",
    "The price of bread rose again this month, according to shopkeepers in the old market.",
]


# ---- the same material in Arabic (our own sentences), for --language ar --------------------------

AR_INCIDENTS = [
    "نصب مسلحون كمينا لقافلة من سيارات النقل {loc} {when}، ما أدى إلى مقتل سائقين.",
    "أقامت مجموعة مسلحة بوابة وهمية {loc} وخطفت ثلاثة مسافرين {when}.",
    "اختطف تاجر عند نقطة تفتيش {loc} {when} بحسب ما أفاد أقاربه.",
    "اندلعت اشتباكات عنيفة بين كتيبتين متنافستين {loc} {when}.",
    "استهدفت غارة بطائرة مسيرة سيارة {loc} {when} ولم يعرف عدد الضحايا.",
    "انفجر لغم أرضي تحت سيارة {loc} {when} ما أدى إلى إصابة أسرة من خمسة أفراد.",
    "سطا مسلحون على شاحنة وقود {loc} {when} واستولوا على هاتف السائق.",
    "أغلقت مجموعة مسلحة الطريق {loc} {when} وعلقت مئات السيارات.",
    "أغلق محتجون الطريق الساحلي {loc} {when} بالإطارات المشتعلة.",
]
AR_SPATIAL_ONE = ["بالقرب من {a}", "في ضواحي {a}", "{d} {a} بنحو {km} كم", "عند مدخل {a}", "في مدينة {a}"]
AR_SPATIAL_TWO = ["على الطريق بين {a} و{b}", "على الطريق الرابط بين {a} و{b}",
                  "{d} {a} بنحو {km} كم على الطريق إلى {b}"]
AR_WHEN = ["يوم الاثنين", "مساء الثلاثاء", "فجر الأربعاء", "يوم الخميس الماضي", "أمس", "صباح اليوم", "الأسبوع الماضي"]
AR_FILLER = [
    "ويعد الطريق الشريان الرئيسي بين الساحل وحقول النفط في الجنوب وتعبره معظم شاحنات الوقود.",
    "ويقول المسافرون إن الرحلة باتت تستغرق ضعف الوقت بسبب كثرة البوابات.",
    "وقال متحدث باسم المجلس البلدي إن الوضع تحت السيطرة ودعا إلى الهدوء.",
    "وارتفعت أسعار الوقود في {a} ثلاثة أضعاف منذ الصيف وامتدت الطوابير أمام المحطات.",
    "ويشكو المزارعون في {a} من ارتفاع أسعار الأعلاف والأسمدة.",
    "وأعلن المصرف المركزي إجراءات جديدة لتخفيف نقص السيولة في المناطق الجنوبية.",
    "واجتمع أعيان من {a} و{b} لبحث إعادة فتح السوق وعودة الأسر النازحة.",
    "وتقول منظمات الإغاثة إن آلاف المهاجرين يعبرون المنطقة كل شهر في طريقهم إلى الساحل.",
    "وعادت المدارس في {a} إلى العمل بعد العطلة رغم أن كثيرا من المعلمين لم يتقاضوا رواتبهم.",
    "وتغطية الهاتف المحمول ضعيفة خارج المدن ما يصعب طلب النجدة على الطريق.",
    "ويفتقر المستشفى في {a} إلى الأدوية الأساسية ويعتمد على التبرعات.",
    "واستؤنف الإنتاج في حقل نفطي قريب بعد توقف دام عدة أسابيع.",
    "وارتفع سعر الخبز مجددا هذا الشهر بحسب أصحاب المحلات في السوق القديم.",
]
AR_COMPASS = {"north": "شمال", "north-east": "شمال شرق", "east": "شرق", "south-east": "جنوب شرق", "south": "جنوب",
              "south-west": "جنوب غرب", "west": "غرب", "north-west": "شمال غرب"}


class Templates(NamedTuple):
    incidents: list[str]
    spatial_one: list[str]
    spatial_two: list[str]
    when: list[str]
    filler: list[str]
    compass: dict[str, str]  # English compass word -> the word the templates use


class Report(NamedTuple):
    text: str
    published: dt.date
    words: int
    incidents: int


COMPASS = ["north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west"]


def compass(a: Place, b: Place) -> str:
    """The eight-point compass direction from ``a`` to ``b`` (flat approximation, fine at Libyan scale)."""
    north = b.lat - a.lat
    east = (b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    bearing = math.degrees(math.atan2(east, north)) % 360
    return COMPASS[round(bearing / 45) % 8]


class Geography(NamedTuple):
    towns: list[str]
    #: (from, to, direction, length in km) for both directions of every road segment between two towns
    legs: list[tuple[str, str, str, float]]


def arabic_geography(geo: Geography, gazetteer: Gazetteer) -> Geography:
    """The same towns and legs, named in Arabic script (towns without an Arabic name left out)."""
    names = {t: arabic_name(gazetteer.resolve(t)) for t in geo.towns}
    names = {t: n for t, n in names.items() if n != t}
    return Geography([names[t] for t in geo.towns if t in names],
                     [(names[a], names[b], d, km) for a, b, d, km in geo.legs if a in names and b in names])


def geography(gazetteer: Gazetteer, engine: RiskEngine) -> Geography:
    """Towns on the road network that the gazetteer knows, and the road legs between them."""
    towns = [name for name in engine.network.nodes() if name in gazetteer]
    known = set(towns)
    legs = []
    for seg in engine.network.segments:
        if seg.start in known and seg.end in known:
            a, b = gazetteer.resolve(seg.start), gazetteer.resolve(seg.end)
            legs.append((seg.start, seg.end, compass(a, b), seg.length_km))
            legs.append((seg.end, seg.start, compass(b, a), seg.length_km))
    return Geography(towns, legs)


class ReportMaker:
    """Builds report texts from the templates above, drawing every choice from one seeded RNG."""

    def __init__(self, geo: Geography, seed: int, templates: Templates | None = None):
        self.geo = geo
        self.rng = random.Random(seed)
        self.t = templates or ENGLISH

    def _fill(self, template: str) -> str:
        rng = self.rng
        a, b = rng.sample(self.geo.towns, 2)
        return template.format(a=a, b=b, d=self.t.compass[rng.choice(COMPASS)], km=rng.choice((10, 25, 40, 60, 85)),
                               day=rng.randint(1, 28), month=rng.choice(MONTHS))

    def _place_phrase(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            return self._fill(rng.choice(self.t.spatial_one))
        a, b, direction, length = rng.choice(self.geo.legs)
        km = max(5, int(length * rng.uniform(0.2, 0.8)) // 5 * 5)
        return rng.choice(self.t.spatial_two).format(a=a, b=b, d=self.t.compass[direction], km=km)

    def incident_sentence(self) -> str:
        loc = self._place_phrase()
        when = self._fill(self.rng.choice(self.t.when))
        return self.rng.choice(self.t.incidents).format(loc=loc, when=when)

    def report(self) -> Report:
        rng = self.rng
        published = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
        n_incidents = 0 if rng.random() < QUIET_SHARE else rng.choice((1, 1, 2, 2, 3))
        sentences = [self.incident_sentence() for _ in range(n_incidents)]
        words = sum(len(s.split()) for s in sentences)
        target = rng.randint(TARGET_WORDS - 30, TARGET_WORDS + 30)
        fillers = rng.sample(self.t.filler, len(self.t.filler))
        while words < target:
            s = self._fill(fillers.pop() if fillers else rng.choice(self.t.filler))
            sentences.append(s)
            words += len(s.split())
        # The lead is the first incident (if any); the other sentences are shuffled into paragraphs.
        head, rest = sentences[:1], sentences[1:]
        rng.shuffle(rest)
        ordered = head + rest
        paragraphs = [" ".join(ordered[i:i + 4]) for i in range(0, len(ordered), 4)]
        return Report("\n\n".join(paragraphs), published, words, n_incidents)


def make_reports(n: int, seed: int, geo: Geography, templates: Templates | None = None) -> list[Report]:
    maker = ReportMaker(geo, seed, templates)
    return [maker.report() for _ in range(n)]


def time_extraction(engine: RiskEngine, reports: list[Report]) -> tuple[float, int, int]:
    """CPU seconds spent in ``extract_text`` over all reports, incidents found, reports with any incident."""
    found = with_any = 0
    elapsed = 0.0
    clock = time.process_time
    for r in reports:
        t0 = clock()
        incidents = engine.extract_text(r.text, r.published)
        elapsed += clock() - t0
        found += len(incidents)
        with_any += bool(incidents)
    return elapsed, found, with_any


class Stages(NamedTuple):
    """CPU seconds over all reports: the whole of ``extract_text``, and its whole-text matching alone."""

    whole: float
    matching: float


def time_stages(engine: RiskEngine, reports: list[Report], rounds: int) -> Stages:
    """The CPU time of reading every report, and of the part of it that must see all of a report
    whatever it tells (``Extractor.lexicon_matches``: every lexicon category over the whole text);
    the two are timed in turn, report by report, so that whatever else the machine does weighs on
    both alike. The least of ``rounds`` for each."""
    extractor, clock = engine.extractor, time.process_time
    whole, matching = [], []
    for _ in range(max(1, rounds)):
        spent = [0.0, 0.0]
        for r in reports:
            t0 = clock()
            extractor.extract(r.text, r.published)
            t1 = clock()
            extractor.lexicon_matches(r.text, r.published)
            spent[0] += t1 - t0
            spent[1] += clock() - t1
        whole.append(spent[0])
        matching.append(spent[1])
    return Stages(min(whole), min(matching))


def long_report(reports: list[Report], size_kb: int) -> str:
    """One text of ``size_kb`` KB made of the generated reports, repeated as needed."""
    chunk = "\n\n".join(r.text for r in reports)
    size = size_kb * 1024
    return ((chunk + "\n\n") * (size // (len(chunk) + 2) + 1))[:size]


def size_sweep(engine: RiskEngine, reports: list[Report], sizes_kb: list[int]) -> list[tuple[int, float, int]]:
    """(KB, CPU seconds, incidents) for one report of each size."""
    rows = []
    for kb in sizes_kb:
        text = long_report(reports, kb)
        t0 = time.process_time()
        found = engine.extract_text(text, dt.date(2026, 11, 20))
        rows.append((kb, time.process_time() - t0, len(found)))
    return rows


def extract_revision(rev: str, into: Path) -> None:
    """The package, rules and seeds of a git revision, unpacked into ``into`` (``git archive``)."""
    try:
        done = subprocess.run(["git", "archive", "--format=tar", rev, "riskengine", "rules", "seeds"],
                              cwd=PROJECT_DIR, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr.decode(errors="replace").strip() if isinstance(exc, subprocess.CalledProcessError) else exc
        raise SystemExit(f"--baseline {rev!r}: cannot read that revision with git archive: {detail}") from None
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))


#: Reports each side reads in turn when a baseline runs alongside (a few hundredths of a second).
TURN = 25


class Baseline:
    """The code of a git revision reading the same reports in a process of its own, a turn at a time
    (``--worker``): its package comes first on that process's path, its compiled cache stays in the
    unpacked tree, and both go when it is closed."""

    def __init__(self, rev: str, args: argparse.Namespace):
        self.tree = Path(tempfile.mkdtemp(prefix="extract-baseline-"))
        try:
            extract_revision(rev, self.tree)
            command = [sys.executable, str(Path(__file__).resolve()), "--reports", str(args.reports),
                       "--seed", str(args.seed), "--language", args.language, "--worker"]
            env = {**os.environ, "PYTHONPATH": str(self.tree), "RISKENGINE_CACHE_DIR": str(self.tree / ".cache")}
            self.process = subprocess.Popen(command, cwd=self.tree, env=env, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if self.process.stdout.readline().strip() != "ready":
                raise SystemExit(f"--baseline {rev!r}: the benchmark did not start on that revision:\n"
                                 f"{self.process.communicate()[1].strip()[-2000:]}")
        except BaseException:
            self.close()
            raise

    def turn(self, index: int) -> tuple[float, int]:
        """CPU seconds and incidents for the ``index``-th turn's reports."""
        self.process.stdin.write(f"{index}\n")
        self.process.stdin.flush()
        seconds, found = json.loads(self.process.stdout.readline())
        return seconds, found

    def close(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            process.communicate()  # end of input: the worker exits
        shutil.rmtree(self.tree, ignore_errors=True)


def serve_turns(engine: RiskEngine, reports: list[Report]) -> None:
    """``--worker``: read turn numbers on standard input, answer each with its CPU seconds and incidents."""
    turns = [reports[i:i + TURN] for i in range(0, len(reports), TURN)]
    print("ready", flush=True)
    for line in sys.stdin:
        seconds, found, _ = time_extraction(engine, turns[int(line)])
        print(json.dumps([seconds, found]), flush=True)


def side_by_side(engine: RiskEngine, reports: list[Report], baseline: Baseline) -> tuple[float, float, int, int]:
    """One round over the reports, this code and the baseline taking turns (each going first every
    other turn): CPU seconds of each, incidents each found."""
    mine = theirs = 0.0
    found = their_found = 0
    for index in range(0, (len(reports) + TURN - 1) // TURN):
        turn = reports[index * TURN:(index + 1) * TURN]
        for side in ((0, 1) if index % 2 else (1, 0)):
            if side == 0:
                seconds, count, _ = time_extraction(engine, turn)
                mine, found = mine + seconds, found + count
            else:
                seconds, count = baseline.turn(index)
                theirs, their_found = theirs + seconds, their_found + count
    return mine, theirs, found, their_found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=3000, help="number of timed reports (default 3000)")
    parser.add_argument("--seed", type=int, default=20261117, help="seed of the report generator")
    parser.add_argument("--rounds", type=int, default=3,
                        help="time the whole set this many times; report the median and the best (default 3)")
    parser.add_argument("--profile", action="store_true",
                        help="run the timed loop under cProfile and print the top 25 functions by cumulative time")
    parser.add_argument("--language", choices=("en", "ar"), default="en",
                        help="generate English (default) or Arabic reports; the Arabic target is "
                             f"{TARGET_AR_PER_SECOND:.0f} reports/s")
    parser.add_argument("--sweep", default=",".join(map(str, SWEEP_KB)),
                        help="report sizes in KB for the size sweep, comma-separated ('' for none; "
                             f"default {','.join(map(str, SWEEP_KB))})")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time the code of this git revision (e.g. HEAD, a commit) side by side, "
                             "and print how much faster or slower this code is")
    parser.add_argument("--stages", action="store_true",
                        help="also time the whole-text matching alone (every lexicon category over each "
                             "whole report) and print what is left for the rest of reading against the "
                             "time a report has at the target rate")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # the other side of --baseline
    args = parser.parse_args(argv)
    if args.baseline is not None and args.profile:
        parser.error("--baseline cannot be combined with --profile")
    if args.reports < 1:
        parser.error("--reports must be at least 1")
    try:
        sweep = [int(kb) for kb in args.sweep.split(",") if kb.strip()]
    except ValueError:
        parser.error(f"--sweep {args.sweep!r}: expected sizes in KB separated by commas, e.g. 100,400")
    if any(kb < 1 for kb in sweep):
        parser.error(f"--sweep {args.sweep!r}: every size must be at least 1 KB")

    engine = RiskEngine.open(db="sqlite:///:memory:")
    gazetteer = Gazetteer.load(DEFAULT_SEEDS_DIR)
    geo = geography(gazetteer, engine)
    templates = ARABIC if args.language == "ar" else ENGLISH
    if args.language == "ar":
        geo = arabic_geography(geo, gazetteer)
    target = TARGET_AR_PER_SECOND if args.language == "ar" else TARGET_PER_SECOND
    reports = make_reports(args.reports, args.seed, geo, templates)
    warm = make_reports(WARM_UP, args.seed + 1, geo, templates)
    time_extraction(engine, warm)

    if args.worker:
        serve_turns(engine, reports)
        return 0

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    timings = []
    for _ in range(1 if profiler else max(1, args.rounds)):
        seconds, found, with_any = time_extraction(engine, reports)
        timings.append(seconds)
    if profiler:
        profiler.disable()
    side_timings, base_timings, side_found = [], [], set()
    if args.baseline:
        baseline = Baseline(args.baseline, args)
        try:
            for _ in range(max(1, args.rounds)):
                mine, theirs, found_here, found_there = side_by_side(engine, reports, baseline)
                side_timings.append(mine)
                base_timings.append(theirs)
                side_found.add((found_here, found_there))
        finally:
            baseline.close()
    timings.sort()
    seconds = statistics.median(timings)

    n = len(reports)
    mean_words = sum(r.words for r in reports) / n
    planted = sum(r.incidents for r in reports)
    quiet = sum(1 for r in reports if r.incidents == 0)
    rate = n / seconds if seconds > 0 else float("inf")
    print(f"reports                    {n} ({quiet} without an incident)")
    print(f"mean words per report      {mean_words:.0f}")
    print(f"rounds                     {len(timings)} (CPU seconds each: {', '.join(f'{t:.2f}' for t in timings)})")
    print(f"total CPU seconds (median) {seconds:.2f}")
    print(f"reports/s                  {rate:.0f}" + (" (under cProfile, slower than real)" if profiler else
                                                      f" (median round; best {n / timings[0]:.0f})"))
    print(f"incidents found per report {found / n:.2f} (planted {planted / n:.2f}; "
          f"{with_any / n:.0%} of reports with one)")
    verdict = "met" if rate >= target else "NOT met"
    print(f"language                   {args.language}")
    print(f"target {target:.0f} reports/s      {verdict}")
    if base_timings:
        mine, theirs = statistics.median(side_timings), statistics.median(base_timings)
        print(f"side by side with {args.baseline}: rounds of turns of {TURN} reports, CPU seconds")
        print(f"  this code                {n / mine:.0f} reports/s (median round; each: "
              f"{', '.join(f'{t:.2f}' for t in side_timings)})")
        print(f"  baseline                 {n / theirs:.0f} reports/s (median round; each: "
              f"{', '.join(f'{t:.2f}' for t in base_timings)})")
        print(f"  this code / baseline     x{sum(base_timings) / sum(side_timings):.2f} reports/s (all rounds)")
        counts = sorted(side_found)
        same = all(here == there for here, there in counts)
        print(f"incidents found            {'the same number' if same else 'DIFFERENT'} "
              f"(this code, baseline: {', '.join(f'{here}, {there}' for here, there in counts)})")
    if args.stages:
        stages = time_stages(engine, reports, args.rounds)
        budget = 1e6 / target
        per = lambda seconds: seconds / n * 1e6  # noqa: E731 - microseconds per report
        rest = per(stages.whole - stages.matching)
        print(f"stages, µs per report      whole {per(stages.whole):.0f}; whole-text matching "
              f"{per(stages.matching):.0f} ({stages.matching / stages.whole:.0%}); the rest {rest:.0f} "
              f"(least of {max(1, args.rounds)} rounds, timed in turn)")
        verdict = "within it" if rest <= budget else "over it, even with matching free"
        print(f"  a report's time at {target:.0f}/s {budget:.0f} µs: the rest alone is {verdict}")
    if sweep:
        print("size sweep (one report)    KB, CPU seconds, seconds per MB, incidents")
        rows = size_sweep(engine, reports, sweep)
        for kb, secs, count in rows:
            print(f"  {kb:>8} KB  {secs:8.2f} s  {secs / (kb / 1024):6.2f} s/MB  {count}")
        one_mb = next((secs for kb, secs, _ in rows if kb == 1024), None)
        if one_mb is not None:
            verdict = "met" if one_mb < TARGET_MB_SECONDS else "NOT met"
            print(f"target 1 MB under {TARGET_MB_SECONDS:.0f} s      {verdict}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return 0


ENGLISH = Templates(INCIDENTS, SPATIAL_ONE, SPATIAL_TWO, WHEN, FILLER, {c: c for c in COMPASS})
ARABIC = Templates(AR_INCIDENTS, AR_SPATIAL_ONE, AR_SPATIAL_TWO, AR_WHEN, AR_FILLER, AR_COMPASS)


if __name__ == "__main__":
    sys.exit(main())
