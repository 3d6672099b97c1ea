"""Extraction throughput: how many text reports per second ``RiskEngine.extract_text`` reads on one core.

The reports are generated (seeded, so every run reads the same text): a few incident sentences about
towns on the road network, with spatial and date phrases, padded with background sentences to about
300 words; some reports describe no incident at all. Only the extraction calls are timed, after a
warm-up. Then a size sweep: one report made of many generated reports, from 100 KB to 20 MB, to show
that extraction time grows linearly with the length of a report (seconds per MB stay flat).
Run: ``python bench/extract_throughput.py [--reports N] [--seed S] [--profile] [--sweep KB,KB,...]``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import math
import pstats
import random
import sys
import time
from typing import NamedTuple

from riskengine.engine import DEFAULT_SEEDS_DIR, RiskEngine
from riskengine.gazetteer import Gazetteer, arabic_name
from riskengine.models import Place

TARGET_PER_SECOND = 2000.0
TARGET_AR_PER_SECOND = 300.0
TARGET_WORDS = 300
#: Report sizes (KB) of the sweep: a long feed item, a file dump, a whole archive pasted as one text.
SWEEP_KB = (100, 400, 1600, 6400, 20480)
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
    """Seconds spent in ``extract_text`` over all reports, incidents found, reports with any incident."""
    found = with_any = 0
    elapsed = 0.0
    for r in reports:
        t0 = time.perf_counter()
        incidents = engine.extract_text(r.text, r.published)
        elapsed += time.perf_counter() - t0
        found += len(incidents)
        with_any += bool(incidents)
    return elapsed, found, with_any


def long_report(reports: list[Report], size_kb: int) -> str:
    """One text of ``size_kb`` KB made of the generated reports, repeated as needed."""
    chunk = "\n\n".join(r.text for r in reports)
    size = size_kb * 1024
    return ((chunk + "\n\n") * (size // (len(chunk) + 2) + 1))[:size]


def size_sweep(engine: RiskEngine, reports: list[Report], sizes_kb: list[int]) -> list[tuple[int, float, int]]:
    """(KB, seconds, incidents) for one report of each size."""
    rows = []
    for kb in sizes_kb:
        text = long_report(reports, kb)
        t0 = time.perf_counter()
        found = engine.extract_text(text, dt.date(2026, 11, 20))
        rows.append((kb, time.perf_counter() - t0, len(found)))
    return rows


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
    args = parser.parse_args(argv)
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

    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    timings = []
    for _ in range(1 if profiler else max(1, args.rounds)):
        seconds, found, with_any = time_extraction(engine, reports)
        timings.append(seconds)
    if profiler:
        profiler.disable()
    timings.sort()
    seconds = timings[len(timings) // 2]

    n = len(reports)
    mean_words = sum(r.words for r in reports) / n
    planted = sum(r.incidents for r in reports)
    quiet = sum(1 for r in reports if r.incidents == 0)
    rate = n / seconds if seconds > 0 else float("inf")
    print(f"reports                    {n} ({quiet} without an incident)")
    print(f"mean words per report      {mean_words:.0f}")
    print(f"rounds                     {len(timings)} (seconds each: {', '.join(f'{t:.2f}' for t in timings)})")
    print(f"total seconds (median)     {seconds:.2f}")
    print(f"reports/s                  {rate:.0f}" + (" (under cProfile, slower than real)" if profiler else
                                                      f" (median round; best {n / timings[0]:.0f})"))
    print(f"incidents found per report {found / n:.2f} (planted {planted / n:.2f}; "
          f"{with_any / n:.0%} of reports with one)")
    verdict = "met" if rate >= target else "NOT met"
    print(f"language                   {args.language}")
    print(f"target {target:.0f} reports/s      {verdict}")
    if sweep:
        print("size sweep (one report)    KB, seconds, seconds per MB, incidents")
        for kb, secs, count in size_sweep(engine, reports, sweep):
            print(f"  {kb:>8} KB  {secs:8.2f} s  {secs / (kb / 1024):6.2f} s/MB  {count}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return 0


ENGLISH = Templates(INCIDENTS, SPATIAL_ONE, SPATIAL_TWO, WHEN, FILLER, {c: c for c in COMPASS})
ARABIC = Templates(AR_INCIDENTS, AR_SPATIAL_ONE, AR_SPATIAL_TWO, AR_WHEN, AR_FILLER, AR_COMPASS)


if __name__ == "__main__":
    sys.exit(main())
