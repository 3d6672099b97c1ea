/* The live board: ask /api/version every few seconds; when the store changed, fetch this page
   again and swap its live sections ([data-live] with an id), and redraw the map. Every ten
   minutes it does so anyway: scores fade with time even when nothing new is stored.
   Everything comes from this server: no external URL. */
(function () {
  "use strict";

  var body = document.body;
  var version = body.dataset.version || "";
  var pollMs = parseInt(body.dataset.pollMs, 10) || 3000;
  var liveState = document.getElementById("live-state");
  var mapBox = document.getElementById("map");
  var map = null;
  var REFRESH_MS = 10 * 60 * 1000;
  var refreshed = Date.now();

  function drawMap() {
    if (!mapBox || typeof window.riskengineMap !== "function") {
      return Promise.resolve();
    }
    return fetch(mapBox.dataset.src, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("map data: HTTP " + r.status)); })
      .then(function (data) {
        if (map && typeof map.update === "function") {
          map.update(data);
          return;
        }
        var view = null;
        if (map && typeof map.getCenter === "function") {
          view = {center: map.getCenter(), zoom: map.getZoom()};
        }
        if (map && typeof map.remove === "function") {
          map.remove();
        }
        var canvas = document.createElement("div");
        canvas.className = "map-canvas";
        mapBox.replaceChildren(canvas);
        map = window.riskengineMap(canvas, data) || null;
        if (view && map && typeof map.setView === "function") {
          map.setView(view.center, view.zoom, {animate: false});
        }
        mapBox.dataset.drawn = data.at || "yes";
      })
      .catch(function (err) { console.warn("riskengine map:", err); });
  }

  function editing() {
    var el = document.activeElement;
    return !!(el && el.form && el.closest("[data-live]"));
  }

  function swapLiveSections() {
    return fetch(window.location.href, {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (old) {
          var next = fresh.getElementById(old.id);
          if (!next) {
            return;
          }
          var open = Array.prototype.map.call(old.querySelectorAll("details"), function (d) { return d.open; });
          var node = document.importNode(next, true);
          node.querySelectorAll("details").forEach(function (d, i) { d.open = !!open[i]; });
          old.replaceWith(node);
        });
      });
  }

  function stamp(text) {
    if (liveState) {
      liveState.dataset.version = version;
      liveState.classList.remove("offline");
      if (text) {
        liveState.title = text;
      }
    }
  }

  function poll() {
    fetch("/api/version", {cache: "no-store", credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (doc) {
        var stale = Date.now() - refreshed > REFRESH_MS;
        if (!doc.version || (doc.version === version && !stale) || editing()) {
          stamp();
          return null;
        }
        return swapLiveSections().then(function () {
          refreshed = Date.now();
          version = doc.version;
          body.dataset.version = version;
          stamp((body.dataset.updatedText || "updated") + " " + new Date().toISOString());
          return drawMap();
        });
      })
      .catch(function () {
        if (liveState) {
          liveState.classList.add("offline");
        }
      })
      .then(function () { window.setTimeout(poll, pollMs); });
  }

  drawMap();
  window.setTimeout(poll, pollMs);
}());
