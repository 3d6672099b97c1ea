"""Tests of dating incidents relative to a report's publication date (``riskengine.extract.dates``)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskengine.extract.dates import DateGuess, find_date, incident_date, is_historical

WED = dt.date(2026, 9, 2)  # a Wednesday
SUN = dt.date(2026, 11, 15)  # a Sunday
MON = dt.date(2026, 3, 2)  # a Monday


def test_date_guess_is_frozen():
    guess = DateGuess(WED, 1, None)
    with pytest.raises(AttributeError):
        guess.date = SUN  # type: ignore[misc]


@pytest.mark.parametrize(
    ("sentence", "published", "expected"),
    [
        ("A minibus was stopped at a fake checkpoint near Tarhuna on Sunday.", WED, dt.date(2026, 8, 30)),
        ("Two drivers were abducted late on Saturday outside Ajdabiya.", WED, dt.date(2026, 8, 29)),
        ("Militiamen closed the Misrata bypass on Wednesday.", WED, dt.date(2026, 9, 2)),
        ("A truck hit a mine south of Sirte last Wednesday.", WED, dt.date(2026, 8, 26)),
        ("Clashes erupted near the Ras Jedir crossing Monday night.", WED, dt.date(2026, 8, 31)),
        ("Early Tuesday a convoy came under fire near Gharyan.", WED, dt.date(2026, 9, 1)),
        ("Gunmen robbed a fuel lorry on the Sebha road on Sunday.", SUN, dt.date(2026, 11, 15)),
        ("A checkpoint near Brak was attacked last Sunday.", SUN, dt.date(2026, 11, 8)),
        ("Shots were fired at a bus near Hun on Saturday evening.", SUN, dt.date(2026, 11, 14)),
        ("Tribesmen blocked the road to Kufra on Tuesday.", MON, dt.date(2026, 2, 24)),
        ("A car bomb was defused near Derna this past Monday.", MON, dt.date(2026, 2, 23)),
        ("Police reopened the Zliten road on Monday.", MON, dt.date(2026, 3, 2)),
    ],
)
def test_weekdays(sentence, published, expected):
    guess = find_date(sentence, published)
    assert guess is not None
    assert guess.date == expected
    assert guess.time_precision == 1
    assert guess.phrase is not None and guess.phrase.lower() in sentence.lower()


def test_next_weekday_is_not_an_incident_date():
    assert find_date("The ministry says the Bani Walid road will reopen next Friday.", WED) is None


@pytest.mark.parametrize(
    ("sentence", "days_back", "phrase"),
    [
        ("An ambulance was shot at near Zawiya yesterday.", 1, "yesterday"),
        ("Armed men seized three pick-ups at Wadi Kaam last night.", 1, "last night"),
        ("The day before yesterday a tanker was torched near Ubari.", 2, "The day before yesterday"),
        ("Smugglers fired on a patrol near Ghat two days ago.", 2, "two days ago"),
        ("A bridge near Sabratha was blown up 4 days ago.", 4, "4 days ago"),
        ("A roadside bomb exploded on the Jufra road this morning.", 0, "this morning"),
        ("Rockets hit the airport road in Tripoli overnight.", 0, "overnight"),
        ("Residents of Tawergha reported gunfire before dawn.", 0, "before dawn"),
        ("The coastal road at Khoms was closed earlier today.", 0, "today"),
    ],
)
def test_simple_relative_phrases(sentence, days_back, phrase):
    guess = find_date(sentence, WED)
    assert guess == DateGuess(WED - dt.timedelta(days=days_back), 1, phrase)


@pytest.mark.parametrize(
    "sentence",
    [
        "Bandits stopped several lorries on the Shwayrif road last week.",
        "Earlier this week a kidnapping was reported near Mizda.",
        "In recent days fighters have massed around Wadi Zamzam.",
        "Over the past few days, three cars were hijacked near Jadu.",
        "Two checkpoints changed hands over the weekend near Tarhuna.",
        "A supply convoy was ambushed near Awjila a week ago.",
    ],
)
def test_week_phrases_have_precision_2(sentence):
    guess = find_date(sentence, WED)
    assert guess is not None
    assert guess.time_precision == 2
    assert WED - dt.timedelta(days=8) <= guess.date <= WED


def test_last_week_is_about_seven_days_back():
    assert find_date("A fuel convoy was looted near Brega last week.", WED).date == dt.date(2026, 8, 26)


def test_month_phrases_have_precision_3():
    last = find_date("Several drivers went missing on the Kufra road last month.", WED)
    assert last == DateGuess(dt.date(2026, 8, 15), 3, "last month")
    early = find_date("Earlier this month a roadblock went up at Abu Grein.", WED)
    assert early == DateGuess(dt.date(2026, 9, 1), 3, "Earlier this month")
    assert find_date("Earlier this month, looters hit a depot.", dt.date(2026, 1, 1)).date == dt.date(2026, 1, 1)
    assert find_date("The road was mined last month.", dt.date(2026, 1, 20)).date == dt.date(2025, 12, 15)
    month = find_date("Militias fought over the Waddan junction in early August.", WED)
    assert month == DateGuess(dt.date(2026, 8, 15), 3, "in early August")


@pytest.mark.parametrize(
    ("sentence", "published", "expected"),
    [
        ("A truck driver was shot dead near Sokna on 28 August.", WED, dt.date(2026, 8, 28)),
        ("On August 30, 2026, a minibus was hijacked near Msallata.", WED, dt.date(2026, 8, 30)),
        ("A police car was burnt near Gharyan on the 1st of Sept.", WED, dt.date(2026, 9, 1)),
        ("The report dates the ambush near Sirte to 2026-08-31.", WED, dt.date(2026, 8, 31)),
        ("The coastal road near Zuwara was shut on 30 December.", dt.date(2026, 1, 3), dt.date(2025, 12, 30)),
        ("A patrol was ambushed near Murzuq on 12 November.", WED, dt.date(2025, 11, 12)),
        ("A tanker burned near Ajdabiya on 31 December 2026.", dt.date(2026, 1, 2), dt.date(2025, 12, 31)),
        ("A bus was hit by gunfire at 14:30 on 1 September.", WED, dt.date(2026, 9, 1)),
    ],
)
def test_explicit_dates(sentence, published, expected):
    guess = find_date(sentence, published)
    assert guess is not None
    assert (guess.date, guess.time_precision) == (expected, 1)


def test_dates_that_name_places_or_future_events_are_ignored():
    assert find_date("Traffic was heavy on 17 February Street in Benghazi.", WED) is None
    assert find_date("Veterans of the February 17 revolution met in Misrata.", WED) is None
    assert find_date("Elections are planned for 24 December 2028.", WED) is None


@pytest.mark.parametrize(
    "sentence",
    [
        "Armed men stopped a minibus on the coastal highway west of Zawiya.",
        "The road was bombed heavily in 2011.",
        "Three cars and 12 passengers were held at the checkpoint.",
        "The convoy may pass through Hun after the talks.",
        "Around 1900 hours a new checkpoint was set up at the Qaddahiya junction.",
    ],
)
def test_no_date(sentence):
    assert find_date(sentence, WED) is None


def test_most_precise_cue_wins():
    guess = find_date("After clashes last week, a driver was kidnapped near Sirte on Monday.", WED)
    assert guess == DateGuess(dt.date(2026, 8, 31), 1, "Monday")


def test_incident_date_falls_back_to_publication():
    sentences = ["Gunmen held up a lorry near Sebha.", "The road south of the city is considered unsafe."]
    assert incident_date(sentences, WED) == DateGuess(WED, 1, None)
    assert incident_date([], WED) == DateGuess(WED, 1, None)


def test_incident_date_takes_first_dated_sentence():
    sentences = [
        "A minibus was set alight on the Jufra road.",
        "Witnesses said the attack happened on Sunday.",
        "A similar attack was reported on 3 August.",
    ]
    assert incident_date(sentences, WED) == DateGuess(dt.date(2026, 8, 30), 1, "Sunday")


@pytest.mark.parametrize(
    "sentence",
    [
        "Five years after the militants were driven out of the city, the port is busy again.",
        "The town was bombed heavily in 2011.",
        "Since 2014 the desert road to Ghadames has changed hands several times.",
        "The 2019 offensive left the airport road in ruins.",
        "Kidnappings were common on this stretch years ago.",
        "Road banditry has risen in the past decade.",
        "The oasis has a long history of smuggling.",
        "Crowds marked the anniversary of the siege of Sirte.",
        "Back then, gunmen regularly ambushed lorries on the desert road to Sebha.",
        "In those days smugglers paid the militia at every checkpoint.",
    ],
)
def test_historical(sentence):
    assert is_historical(sentence, dt.date(2026, 6, 10))


@pytest.mark.parametrize(
    "sentence",
    [
        "Gunmen attacked a lorry on Monday, a year after similar attacks in 2025.",
        "A taxi driver was abducted near Bani Walid.",
        "Unlike the 2019 offensive, the clashes yesterday were brief.",
        "Five years after the siege, shelling resumed this week.",
        "On 1 June 2026, the anniversary of the ceasefire, a car was shot at near Sirte.",
        "Armed men stopped a minibus on the coastal highway west of Zawiya.",
        "Gunmen ambushed a lorry near Sebha on Monday, as they often did back then.",
    ],
)
def test_not_historical(sentence):
    assert not is_historical(sentence, dt.date(2026, 6, 10))


def test_old_explicit_date_is_still_historical():
    assert is_historical("The bridge was destroyed on 20 March 2011.", dt.date(2026, 6, 10))


PHRASES = [
    "on Sunday", "late on Saturday", "Monday night", "last Friday", "this past Thursday", "yesterday",
    "last night", "the day before yesterday", "three days ago", "10 days ago", "two weeks ago", "today",
    "overnight", "last week", "earlier this week", "this week", "in recent days", "over the weekend",
    "last month", "earlier this month", "in early January", "in late December", "on 31 December", "on 1 January",
    "on 29 February", "on 15 June", "on March 3", "on 2027-05-05", "on 28 December 2026", "on 2 Jan 2027",
]


@settings(deadline=None)  # a first dateparser call loads its data: slow once, not a bug
@given(
    published=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31)),
    phrase=st.sampled_from(PHRASES),
)
def test_never_after_publication(published, phrase):
    sentence = f"A convoy was ambushed on the road between Sirte and Misrata {phrase}."
    guess = find_date(sentence, published)
    if guess is not None:
        assert guess.date <= published
        assert guess.time_precision in (1, 2, 3)
        assert guess.phrase is not None and guess.phrase in sentence
    assert incident_date([sentence], published).date <= published


@given(published=st.dates(min_value=dt.date(2001, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_weekday_is_within_the_last_week(published):
    for name in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
        plain = find_date(f"Shots were fired near Hun on {name}.", published).date
        last = find_date(f"Shots were fired near Hun last {name}.", published).date
        assert plain.strftime("%A") == last.strftime("%A") == name
        assert 0 <= (published - plain).days <= 6
        assert 1 <= (published - last).days <= 7


def test_the_day_something_was_said_is_not_the_day_it_happened():
    guess = find_date("Gunmen seized a tanker west of Brega late last week, police said on Monday.", WED)
    assert guess.time_precision == 2 and guess.date < dt.date(2026, 8, 31)
