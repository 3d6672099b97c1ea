"""The live web board end to end: the real server (``riskengine serve``) in a process of its own, on
a free loopback port, over a real SQLite store filled by ``riskengine ingest`` in other processes,
asked over real HTTP.

The reports are our own sentences, in English and Arabic. The board answers as of a fixed time
(``--at``), so scores do not drift with the clock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from riskengine.web.i18n import ARABIC, Words, pick_language

from .browser import console_errors, remote_resources, screenshot

AT = "2026-11-20T08:00"
PUBLISHED = "2026-11-19"
TOKEN = "desk-token-0123456789abcdef"
BOARD = [("Sirte", "Sebha"), ("Tripoli", "Misrata"), ("Brak", "Sebha")]

EN_REPORT = ("Sirte, 18 November - Gunmen ambushed two fuel trucks on the road between Sirte and Waddan on "
             "Tuesday, killing one of the drivers, a municipal official told our desk.\n")
AR_REPORT = ("سبها، 17 نوفمبر - هاجم مسلحون حافلة ركاب على الطريق بين سبها وبراك مساء الاثنين، "
             "وأصيب ثلاثة من الركاب بجروح، بحسب مصدر محلي.\n")
LATE_REPORT = ("Misrata, 19 November - A roadside bomb exploded next to a military checkpoint on the coastal road "
               "30 km west of Misrata, wounding four soldiers, the local council said.\n")


def _cli(db: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``riskengine --db DB ARGS`` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "riskengine.cli", "--db", str(db), *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "RISKENGINE_WARM": "0", **(env or {})})


def _serve_command() -> list[str]:
    """``riskengine serve`` once the command line has it; until then the module's own entry point."""
    from riskengine.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    module = "riskengine.cli" if "serve" in sub.choices else "riskengine.web.serve"
    return [sys.executable, "-m", module]


class Server:
    """A running ``serve`` process and an HTTP client to it."""

    def __init__(self, proc: subprocess.Popen, url: str):
        self.proc, self.url = proc, url
        self.http = httpx.Client(base_url=url, trust_env=False, timeout=60, follow_redirects=False)

    def get(self, path: str, **kw) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw) -> httpx.Response:
        return self.http.post(path, **kw)

    def json(self, path: str, **kw):
        r = self.get(path, **kw)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.json()

    def stop(self, how: int = signal.SIGTERM) -> tuple[int, str]:
        """Stop the server as a user would; its exit status and what it wrote on stderr."""
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(how)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode, self.proc.stderr.read()


def start_server(db: Path, config: Path, *extra: str) -> Server:
    proc = subprocess.Popen([*_serve_command(), "--db", str(db), "serve", "--port", "0", "--at", AT,
                             "--config", str(config), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RISKENGINE_WARM": "0"})
    line = proc.stdout.readline()  # printed once the port is bound
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not found:
        proc.kill()
        raise AssertionError(f"the server did not start: {line!r} {proc.stderr.read()[:2000]}")
    server = Server(proc, found.group(0))
    deadline = time.monotonic() + 60
    while True:
        try:
            if server.get("/api/version").status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            server.stop()
            raise AssertionError("the server does not answer")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, Path]:
    """A store with our English and Arabic reports (ingested by the command line), and a run
    configuration whose board lists :data:`BOARD`."""
    root = tmp_path_factory.mktemp("board")
    (root / "sirte.txt").write_text(EN_REPORT, encoding="utf-8")
    (root / "sebha-ar.txt").write_text(AR_REPORT, encoding="utf-8")
    db = root / "risk.db"
    done = _cli(db, "ingest", str(root / "sirte.txt"), str(root / "sebha-ar.txt"), "--published", PUBLISHED)
    assert done.returncode == 0, done.stderr
    config = root / "board.yaml"
    config.write_text("board:\n" + "".join(f"  - [{a}, {b}]\n" for a, b in BOARD), encoding="utf-8")
    return db, config


@pytest.fixture(scope="module")
def server(filled):
    """A read-only server over the filled store (shared by the tests that only read)."""
    db, config = filled
    running = start_server(db, config)
    yield running
    running.stop()


@pytest.fixture
def own_server(filled, tmp_path):
    """A server with the analyst token over a copy of the filled store (for tests that write)."""
    db, config = filled
    copy = tmp_path / "risk.db"
    shutil.copy(db, copy)
    running = start_server(copy, config, "--analyst-token", TOKEN)
    running.db = copy
    yield running
    running.stop()


def _route(board: dict, start: str, end: str) -> dict:
    return next(r for r in board["routes"] if (r["from"], r["to"]) == (start, end))


# ---- reading ---------------------------------------------------------------------------------------


def test_board_json_lists_the_configured_routes_with_level_score_and_status(server):
    board = server.json("/api/board")
    assert [(r["from"], r["to"]) for r in board["routes"]] == BOARD
    assert board["at"].startswith("2026-11-20T08:00")
    sirte_sebha = _route(board, "Sirte", "Sebha")
    assert sirte_sebha["score"] > 0 and sirte_sebha["level"] >= 2  # the ambush near Waddan weighs on it
    assert "jufra-sirte-waddan" in [s["id"] for s in sirte_sebha["segments"]]
    assert any("Waddan" in (e["summary"] or "") for e in sirte_sebha["top_events"])
    for route in board["routes"]:
        assert 1 <= route["level"] <= 5 and route["status"] in ("open", "closed")
    assert _route(board, "Brak", "Sebha")["score"] > 0  # the Arabic report's attack


def test_board_page_shows_routes_map_events_with_sources_and_the_route_form(server):
    r = server.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '<html lang="en" dir="ltr">' in html
    for start, end in BOARD:
        assert f"<bdi>{start}</bdi> – <bdi>{end}</bdi>" in html
    assert 'id="map"' in html and "/static/vendor/leaflet/leaflet.js" in html and "/static/map.js" in html
    assert "Ambush between Sirte and Waddan" in html and "sirte.txt" in html  # an event and its source
    assert "sebha-ar.txt" in html
    assert 'action="/route"' in html and 'name="from"' in html and 'name="to"' in html and 'name="at"' in html
    # everything comes from this server: no external script, style, image or link
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', html)
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/board.js", "/static/board.css", "/static/map.js", "/static/map.css",
                  "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css"):
        assert server.get(asset).status_code == 200, asset
    data = server.json("/api/map")  # what the page's map draws
    assert {f["id"] for f in data["segments"]["features"]} >= {"jufra-sirte-waddan", "fezzan-brak-sebha"}
    assert data["basemap"]["features"] and data["towns"]["features"]


def test_route_query_in_english_and_arabic_gives_the_command_lines_answer(server, filled):
    db, _ = filled
    cli = _cli(db, "route", "Sirte", "Sebha", "--at", AT, "--json")
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    english = server.json("/api/route", params={"from": "Sirte", "to": "Sebha", "at": AT})
    arabic = server.json("/api/route", params={"from": "سرت", "to": "سبها"})  # the server's --at time
    for answer in (english, arabic):
        assert (answer["from"], answer["to"]) == ("Sirte", "Sebha")
        assert answer["score"] == expected["score"] and answer["level"] == expected["level"]
        assert [s["id"] for s in answer["segments"]] == [s["id"] for s in expected["segments"]]
    page = server.get("/route", params={"from": "سرت", "to": "سبها", "lang": "ar"})
    assert page.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page.text
    assert "<bdi>سرت - ودان</bdi>" in page.text and "<bdi>Sirte - Waddan</bdi>" not in page.text  # towns in Arabic
    assert f"<bdi>{expected['score']}/100</bdi>" in page.text
    assert ARABIC[expected["level_name"]] in page.text
    assert 'href="/segment/jufra-sirte-waddan?lang=ar"' in page.text


def test_unknown_place_and_segment_answer_400_and_404_with_the_engines_message(server):
    r = server.get("/api/route", params={"from": "Sirte", "to": "Sebhx"})
    assert r.status_code == 400
    doc = r.json()
    assert doc["error"].startswith("unknown place 'Sebhx'") and "Sebha" in doc["suggestions"]
    assert "\n" not in doc["error"]
    r = server.get("/api/segment/jufra-sirte-wadan")
    assert r.status_code == 404 and "jufra-sirte-waddan" in r.json()["suggestions"]
    page = server.get("/route", params={"from": "Sirte", "to": "Sebhx"})
    assert page.status_code == 400 and "unknown place" in page.text
    assert 'href="/route?' in page.text and "to=Sebha" in page.text  # "did you mean" links
    assert server.get("/api/route", params={"from": "Sirte", "to": "Sebha", "at": "soon"}).status_code == 400


def test_segment_explanation_shows_formula_events_factors_sources_status_and_coverage(server):
    doc = server.json("/api/segment/jufra-sirte-waddan")
    assert doc["segment"]["id"] == "jufra-sirte-waddan" and doc["score"] > 0
    ambush = next(i for i in doc["incidents"] if "ambush" in i["tags"])
    assert ambush["sources"] == ["sirte.txt"] and ambush["weight"] > 0
    html = server.get("/segment/jufra-sirte-waddan").text
    assert doc["formula"].split(";")[0] in html
    assert "sirte.txt" in html and f"<strong>{ambush['weight']}</strong>" in html
    assert "Road status" in html and "What this rests on" in html
    assert f"{doc['coverage']['events']} events" in html


def test_arabic_pages_are_right_to_left_with_arabic_words(server):
    ar = server.get("/", params={"lang": "ar"}).text
    assert '<html lang="ar" dir="rtl">' in ar
    assert "الطرق الرئيسية" in ar and "الأحداث الأخيرة" in ar
    assert any(f">{ARABIC[name]}</span>" in ar for name in ("Low", "Medium", "High", "Extreme", "No recent reports",
                                                             "Insignificant"))
    by_browser = server.get("/", headers={"Accept-Language": "ar-LY,ar;q=0.9,en;q=0.5"}).text
    assert '<html lang="ar" dir="rtl">' in by_browser
    assert '<html lang="en" dir="ltr">' in server.get("/", headers={"Accept-Language": "en-GB"}).text
    assert server.json("/api/map", params={"lang": "ar"})["dir"] == "rtl"


def test_exports_are_served_and_parse(server):
    r = server.get("/api/segments.geojson")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    segments = r.json()
    assert segments["type"] == "FeatureCollection" and segments["features"]
    lon, lat = segments["features"][0]["geometry"]["coordinates"][0]
    assert 9 < lon < 26 and 19 < lat < 34  # RFC 7946: lon, lat
    events = server.json("/api/events.geojson")
    assert {tuple(f["properties"]["sources"]) for f in events["features"]} == {("sirte.txt",), ("sebha-ar.txt",)}
    r = server.get("/export/cap.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    r = server.get("/export/events.csv", params={"hxl": "1"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    header, tags, *rows = r.text.splitlines()
    assert "event_id_cnty" in header and tags.startswith("#") and len(rows) == 2
    assert not server.get("/export/events.csv").text.splitlines()[1].startswith("#")
    listed = server.json("/api/events", params={"since": "2026-11-01"})["events"]
    assert {e["sources"][0] for e in listed} == {"sirte.txt", "sebha-ar.txt"}
    assert server.json("/api/events", params={"since": "2026-11-19"})["events"] == []
    segs = server.json("/api/segments")["segments"]
    assert any(s["id"] == "fezzan-brak-sebha" and s["score"] > 0 for s in segs)


def test_many_questions_at_once_on_a_fresh_server_get_the_answers_asked_one_by_one(filled):
    """Requests in flight together, before the engine has read anything, are answered as one by one."""
    from concurrent.futures import ThreadPoolExecutor

    db, config = filled
    fresh = start_server(db, config)
    try:
        paths = ["/api/board", "/api/segment/jufra-sirte-waddan", "/api/segments", "/api/events", "/",
                 "/api/route?from=Brak&to=Sebha", "/api/route?from=Tripoli&to=Misrata&at=2026-11-19",
                 "/api/segments.geojson", "/export/cap.xml"] * 3
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda p: (p, fresh.http.get(p)), paths))
        one_by_one = {p: fresh.get(p) for p in set(paths)}
        for path, r in answers:
            assert r.status_code == 200 and r.content == one_by_one[path].content, path
    finally:
        assert fresh.stop() == (0, "")


def test_a_page_addressed_to_another_host_name_is_refused(server):
    """A site whose name was pointed at 127.0.0.1 (DNS rebinding) reads nothing."""
    assert server.get("/api/board", headers={"Host": "attacker.example"}).status_code == 400
    assert server.get("/api/version", headers={"Host": "localhost"}).status_code == 200


# ---- writing ---------------------------------------------------------------------------------------


def test_writes_need_the_analyst_token_and_change_the_board(own_server):
    s = own_server
    before = s.json("/api/version")["version"]
    body = {"status": "closed", "why": "bridge washed out, seen by our driver"}
    assert s.post("/api/segment/jufra-sirte-waddan/status", json=body).status_code == 403
    assert s.post("/api/segment/jufra-sirte-waddan/status", json=body,
                  headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 403
    assert s.json("/api/version")["version"] == before
    assert _route(s.json("/api/board"), "Sirte", "Sebha")["segments"][0]["status"] == "open"

    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = s.post("/api/segment/jufra-sirte-waddan/status", json=body, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert s.json("/api/version")["version"] != before
    route = _route(s.json("/api/board"), "Sirte", "Sebha")
    assert "jufra-sirte-waddan" in [c["segment"] for c in route["closed_segments"] + route["avoided_closed"]]
    assert "closed" in s.get("/segment/jufra-sirte-waddan").text

    ambush = next(e for e in s.json("/api/events")["events"] if "ambush" in e["tags"])
    assert s.post(f"/api/event/{ambush['id']}/retract", json={"why": "duplicate"}).status_code == 403
    r = s.post(f"/api/event/{ambush['id']}/retract", json={"why": "the desk could not confirm it"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "retracted"
    assert ambush["id"] not in [e["id"] for e in s.json("/api/events")["events"]]
    assert s.json("/api/segment/jufra-sirte-waddan")["incidents"] == []
    r = s.post(f"/api/event/{ambush['id']}/retract", json={"why": "again"}, headers=auth)
    assert r.status_code == 400 and "retracted" in r.json()["error"]  # already retracted: the engine's message
    assert s.post(f"/api/event/{ambush['id']}/retract", content=b"not json", headers=auth).status_code == 400
    assert s.post("/api/event/nope/retract", json={"why": "x"}, headers=auth).status_code == 404
    assert s.post(f"/api/event/{ambush['id']}/delete", json={"why": "x"}, headers=auth).status_code == 400
    shown = json.loads(_cli(s.db, "incidents", "show", ambush["id"], "--json").stdout)  # another process reads it
    assert shown["status"] == "retracted" and shown["audit"][-1]["why"] == "the desk could not confirm it"
    r = s.post(f"/api/event/{ambush['id']}/restore", json={"why": "confirmed by a second driver"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert [i["id"] for i in s.json("/api/segment/jufra-sirte-waddan")["incidents"]] == [ambush["id"]]


def test_the_sign_in_form_sets_a_strict_cookie_and_forms_need_its_form_token(own_server):
    s = own_server
    assert s.post("/login", data={"token": "wrong"}).status_code == 403
    r = s.post("/login", data={"token": TOKEN})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie
    page = s.get("/segment/fezzan-brak-sebha").text
    assert 'action="/segment/fezzan-brak-sebha/status"' in page  # an analyst sees the form
    form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    form = {"status": "checkpoint", "why": "new army checkpoint at the Brak junction", "next": "/"}
    # the cookie alone (what a cross-site form would send) is not enough
    assert s.post("/segment/fezzan-brak-sebha/status", data=form).status_code == 403
    r = s.post("/segment/fezzan-brak-sebha/status", data={**form, "form_token": form_token})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert s.json("/api/segment/fezzan-brak-sebha")["status"]["status"] == "checkpoint"
    attack = next(e for e in s.json("/api/events")["events"] if e["sources"] == ["sebha-ar.txt"])
    assert f'action="/event/{attack["id"]}/retract"' in s.get("/").text
    retract = {"why": "told twice", "next": "/?lang=ar", "form_token": form_token}
    r = s.post(f"/event/{attack['id']}/retract", data=retract)
    assert r.status_code == 303 and r.headers["location"] == "/?lang=ar"
    board = s.get("/").text
    assert f'<tr data-event="{attack["id"]}" class="event-retracted">' in board  # an analyst still sees it
    assert f'action="/event/{attack["id"]}/restore"' in board
    assert s.post(f"/event/{attack['id']}/restore", data={**retract, "next": "//evil.example/"}).headers[
        "location"] == "/"  # never sent off this site
    s.http.cookies.clear()
    assert 'action="/segment/fezzan-brak-sebha/status"' not in s.get("/segment/fezzan-brak-sebha").text
    assert s.post("/segment/fezzan-brak-sebha/status", data={**form, "form_token": form_token}).status_code == 403


def test_a_read_only_server_refuses_every_write(server):
    assert server.post("/api/segment/jufra-sirte-waddan/status", json={"status": "closed", "why": "x"},
                       headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403
    assert server.post("/login", data={"token": TOKEN}).status_code == 403


# ---- live ------------------------------------------------------------------------------------------


def test_a_report_ingested_by_another_process_shows_up_after_the_marker_moves(own_server, tmp_path):
    s = own_server
    before = s.json("/api/version")["version"]
    assert f'data-version="{before}"' in s.get("/").text  # the page knows what it shows
    assert "IED/landmine 30 km west of Misrata" not in s.get("/").text
    late = tmp_path / "misrata-bomb.txt"
    late.write_text(LATE_REPORT, encoding="utf-8")
    done = _cli(s.db, "ingest", str(late), "--published", PUBLISHED)
    assert done.returncode == 0, done.stderr
    started = time.monotonic()
    while s.json("/api/version")["version"] == before:
        assert time.monotonic() - started < 10, "the change marker did not move"
        time.sleep(0.3)
    events = s.json("/api/events")["events"]
    assert events[0]["sources"] == ["misrata-bomb.txt"] and "ied_landmine" in events[0]["tags"]
    html = s.get("/").text
    assert "IED/landmine 30 km west of Misrata" in html and "misrata-bomb.txt" in html
    assert _route(s.json("/api/board"), "Tripoli", "Misrata")["score"] > 0


# ---- starting and stopping ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_the_server_stops_cleanly_on_ctrl_c_and_sigterm(filled, how):
    db, config = filled
    running = start_server(db, config)
    assert running.get("/api/version").status_code == 200
    assert running.stop(how) == (0, "")




@pytest.mark.parametrize("extra, why", [
    (["--host", "0.0.0.0"], "not a loopback address"),
    (["--host", "0.0.0.0", "--public"], "not a loopback address"),
    (["--host", "0.0.0.0", "--analyst-token", TOKEN], "--public"),
    (["--analyst-token", "short"], "too short"),
])
def test_a_public_interface_is_refused_without_a_token_and_public(filled, extra, why):
    db, config = filled
    env = {k: v for k, v in os.environ.items() if k != "RISKENGINE_ANALYST_TOKEN"}
    done = subprocess.run([*_serve_command(), "--db", str(db), "serve", "--port", "0", "--config", str(config),
                           *extra], capture_output=True, text=True, timeout=120, env={**env, "RISKENGINE_WARM": "0"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("riskengine: error:") and why in lines[0]
    assert "serving" not in done.stdout


# ---- words -----------------------------------------------------------------------------------------


def test_level_and_status_words_are_the_bots_arabic():
    from bot.i18n import translator

    tr = translator("ar")
    for name in ("Insignificant", "Low", "Medium", "High", "Extreme", "No recent reports", "restricted",
                 "checkpoint", "closed"):
        assert Words("ar")(name) == tr._(name), name
    assert Words("en")("High") == "High"
    assert pick_language({}, "ar", None) == "ar" and pick_language({"lang": "en"}, "ar", "ar") == "en"


# ---- in a real browser, with the network off ---------------------------------------------------------


def _wait(driver, script: str, timeout: float = 30):
    """Wait until ``script`` (a JavaScript expression) is truthy in the page; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: d.execute_script(f"return {script}"))


def test_the_board_in_a_browser_offline_draws_the_map_and_follows_the_store(browser, own_server, tmp_path):
    s = own_server
    browser.get(s.url)
    drawn = _wait(browser, "window.riskengineReady && document.querySelector('#map .map-canvas')"
                           " && document.querySelector('#map .map-canvas').dataset.segments")
    segments = len(s.json("/api/segments")["segments"])
    assert int(drawn) == segments
    assert _wait(browser, "document.querySelectorAll('#map path.segment').length") >= segments
    assert remote_resources(browser) == []
    assert console_errors(browser) == []  # no script blocked, missing or failing
    screenshot(browser, "web-board")

    browser.execute_script("window.stillThisPage = true")
    late = tmp_path / "misrata-bomb.txt"
    late.write_text(LATE_REPORT, encoding="utf-8")
    assert _cli(s.db, "ingest", str(late), "--published", PUBLISHED).returncode == 0
    _wait(browser, "document.getElementById('events').textContent.includes('IED/landmine 30 km west of Misrata')",
          timeout=20)
    assert browser.execute_script("return window.stillThisPage") is True  # swapped in place, not reloaded
    assert "misrata-bomb.txt" in browser.find_element("id", "events").text
    assert console_errors(browser) == []


def test_the_route_form_in_arabic_in_a_browser(browser, server):
    browser.get(server.url + "?lang=ar")
    assert browser.execute_script("return getComputedStyle(document.documentElement).direction") == "rtl"
    browser.find_element("name", "from").send_keys("سرت")
    browser.find_element("name", "to").send_keys("سبها")
    browser.find_element("css selector", ".route-form button").click()
    text = _wait(browser, "document.getElementById('route') && document.getElementById('route').textContent")
    expected = server.json("/api/route", params={"from": "Sirte", "to": "Sebha"})
    assert f"{expected['score']}/100" in text and ARABIC["Segments"] in text
    assert browser.execute_script("return document.documentElement.dir") == "rtl"
    assert remote_resources(browser) == [] and console_errors(browser) == []
    screenshot(browser, "web-board-route-ar")
