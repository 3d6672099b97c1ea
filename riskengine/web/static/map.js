/* The risk map: window.riskengineMap(element, data) draws the document of
 * riskengine.web.offline_map.map_data on a Leaflet map in `element` and returns the map.
 *
 * Layers, bottom up: the sea (the container's background), optional tiles, the countries
 * (Libya emphasised), the roads coloured by level (no recent reports: grey, dashed), the events
 * that weigh, then the labels: countries, towns by size, road names. Town and road labels are
 * placed biggest first and skipped where they would overlap one already placed, again at each zoom.
 * Every text from the data is escaped; nothing is fetched unless data.tiles names a tile server.
 */
(function () {
  'use strict';

  var TOWN_ZOOM_MIN_ROAD = 6;   // road names from this zoom on
  var ROAD_LABEL_SPACING = 260; // px between two labels of one road
  var CHAR_PX = 7;              // rough width of a label's character, for collisions

  function esc(text) {
    return String(text === null || text === undefined ? '' : text)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  // a run that keeps its own direction inside text of the other direction
  function bdi(text) { return '<bdi>' + esc(text) + '</bdi>'; }

  function latLngs(geometry) {
    if (geometry.type === 'LineString') { return geometry.coordinates.map(function (c) { return [c[1], c[0]]; }); }
    if (geometry.type === 'MultiLineString') {
      return geometry.coordinates.map(function (line) { return line.map(function (c) { return [c[1], c[0]]; }); });
    }
    return [];
  }

  function segmentColour(p, data) {
    return p.quiet ? data.no_reports_colour : data.colours[String(p.level)];
  }

  function coverageText(p, words) {
    var c = p.coverage || {};
    if (!p.covered) {
      return esc(words.no_reports) + (c.why_not ? ': ' + bdi(c.why_not) : '');
    }
    var parts = [esc(c.events) + ' ' + esc(words.events)];
    if (c.sources && c.sources.length) { parts.push(esc(words.sources) + ': ' + c.sources.map(bdi).join(', ')); }
    if (c.newest_event) { parts.push(esc(words.newest) + ' ' + bdi(c.newest_event)); }
    return parts.join(' · ');
  }

  function segmentPopup(p, data) {
    var words = data.labels, rs = p.road_status || {};
    var status = words.statuses[p.status] || p.status;
    var top = (p.top_events || []).map(function (e) {
      var kind = e.event_type + (e.sub_event_type ? ' / ' + e.sub_event_type : '');
      return '<li>' + bdi(e.date) + ': ' + bdi(e.summary || kind) +
        ' <span class="rk-sources">(' + esc(words.sources) + ': ' + (e.sources || []).map(bdi).join(', ') +
        '; ' + esc(words.weight) + ' ' + bdi(Number(e.weight).toFixed(3)) + ')</span></li>';
    }).join('');
    return '<div class="rk-popup" dir="' + data.dir + '">' +
      '<div class="rk-popup-title"><b>' + bdi(p.label) + '</b> <small>(' + bdi(p.id) + ')</small></div>' +
      '<div>' + esc(words.road) + ': ' + bdi(p.road) + ' · ' + bdi(p.length_km) + ' ' + esc(words.km) + '</div>' +
      '<div>' + esc(words.score) + ' <b>' + bdi(Number(p.score).toFixed(1)) + '</b> · ' + esc(words.level) +
      ' <span class="rk-chip' + (p.quiet ? ' quiet' : '') + '" style="background:' + segmentColour(p, data) +
      '"></span> <b>' + esc(p.quiet ? p.level_label : p.level + ' ' + p.level_label) + '</b></div>' +
      '<div>' + esc(words.status) + ': <b class="rk-status-' + esc(p.status) + '">' + esc(status) + '</b>' +
      (rs.detail ? ' <small>(' + bdi(rs.detail) + ')</small>' : '') + '</div>' +
      '<div>' + esc(words.coverage) + ': ' + coverageText(p, words) + '</div>' +
      (top ? '<div class="rk-top">' + esc(words.top_events) + '</div><ol>' + top + '</ol>'
        : '<div class="rk-none">' + esc(words.no_events) + '</div>') +
      '</div>';
  }

  function eventPopup(p, data) {
    var words = data.labels;
    var kind = p.event_type + (p.sub_event_type ? ' / ' + p.sub_event_type : '');
    return '<div class="rk-popup" dir="' + data.dir + '">' +
      '<div class="rk-popup-title"><b>' + bdi(p.date) + '</b> ' + bdi(kind) + '</div>' +
      (p.summary ? '<div>' + bdi(p.summary) + '</div>' : '') +
      '<div>' + esc(words.sources) + ': ' + (p.sources || []).map(bdi).join(', ') +
      (p.confidence !== null && p.confidence !== undefined
        ? ' · ' + esc(words.confidence) + ' ' + bdi(p.confidence) : '') + '</div>' +
      '<div>' + esc(words.segments) + ': ' + (p.segment_labels || []).map(bdi).join(', ') + '</div>' +
      '</div>';
  }

  function legend(data) {
    var words = data.labels;
    var rows = Object.keys(data.colours).map(function (level) {
      return '<div class="rk-legend-row"><span class="rk-swatch" style="background:' + data.colours[level] +
        '"></span>' + esc(level + ' ' + words.levels[level]) + '</div>';
    }).join('');
    return '<div class="rk-legend-title">' + esc(words.title) + '</div>' +
      '<div class="rk-legend-when">' + esc(words.as_of) + ' ' + bdi(data.as_of_text) + '</div>' + rows +
      '<div class="rk-legend-row"><span class="rk-swatch quiet" style="border-color:' + data.no_reports_colour +
      '"></span>' + esc(words.no_reports) + '</div>' +
      '<div class="rk-legend-row"><span class="rk-event-swatch"></span>' + esc(words.event) + '</div>';
  }

  // Labels placed biggest first, each only where its box overlaps none placed before it.
  function LabelPlacer(map) { this.map = map; this.boxes = []; }
  LabelPlacer.prototype.fits = function (box) {
    for (var i = 0; i < this.boxes.length; i++) {
      var b = this.boxes[i];
      if (box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]) { return false; }
    }
    return true;
  };
  LabelPlacer.prototype.take = function (box) { this.boxes.push(box); };

  function riskengineMap(element, data) {
    var L = window.L, words = data.labels, rtl = data.dir === 'rtl';
    var bounds = L.latLngBounds(data.bounds);
    var box = data.basemap.bbox || [5, 15, 30, 38];
    L.DomUtil.addClass(element, 'rk-' + data.dir);
    var map = L.map(element, {
      minZoom: 4, maxZoom: 12, zoomSnap: 0.5,
      maxBounds: L.latLngBounds([[box[1], box[0]], [box[3], box[2]]]).pad(0.02), maxBoundsViscosity: 0.8,
    });
    map.attributionControl.setPrefix('Leaflet');
    map.attributionControl.addAttribution(esc(words.attribution));
    map.createPane('rk-countries').style.zIndex = 250;
    map.createPane('rk-labels-low').style.zIndex = 450;

    if (data.tiles && data.tiles.url) {
      L.tileLayer(data.tiles.url, { attribution: esc(data.tiles.attribution), maxZoom: 18 }).addTo(map);
    }
    var online = Boolean(data.tiles && data.tiles.url);
    // the sea is drawn only over the box the countries were cut to: outside it the ground is unknown
    L.rectangle([[box[1], box[0]], [box[3], box[2]]], { pane: 'rk-countries', interactive: false, stroke: false,
      fillColor: '#c6dbe9', fillOpacity: online ? 0 : 1, className: 'sea' }).addTo(map);
    L.geoJSON(data.basemap, {
      pane: 'rk-countries', interactive: false,
      style: function (f) {
        var libya = f.properties.iso === 'LBY';
        return {
          className: 'country' + (libya ? ' libya' : ''), color: libya ? '#6d4c41' : '#a1887f',
          weight: libya ? 2.2 : 1, fillColor: libya ? '#fdfbf4' : '#e9e4d8', fillOpacity: online ? 0.25 : 1,
        };
      },
    }).addTo(map);
    (data.countries || []).forEach(function (c) {
      var name = rtl && c.name_ar ? c.name_ar : c.name;
      L.marker([c.lat, c.lon], {
        pane: 'rk-labels-low', interactive: false, keyboard: false,
        icon: L.divIcon({ className: 'country-label' + (c.iso === 'LBY' ? ' libya' : ''), html: esc(name),
          iconSize: null }),
      }).addTo(map);
    });

    // roads: a white casing, then the line coloured by level
    var roads = L.layerGroup().addTo(map);
    data.segments.features.forEach(function (f) {
      var p = f.properties, lines = latLngs(f.geometry);
      L.polyline(lines, { color: '#ffffff', weight: 8, opacity: 0.9, interactive: false,
        className: 'segment-casing' }).addTo(roads);
      var classes = 'segment level-' + p.level + (p.quiet ? ' quiet' : '') + (p.covered ? '' : ' not-covered') +
        ' seg-' + p.id + ' status-' + p.status;
      L.polyline(lines, {
        color: segmentColour(p, data), weight: 5, opacity: 0.95, className: classes,
        dashArray: p.covered ? null : '9 7', lineCap: p.covered ? 'round' : 'butt',
      }).bindPopup(segmentPopup(p, data), { maxWidth: 380, className: 'rk-popup-wrap' })
        .bindTooltip(bdi(p.label) + ': ' + esc(p.level_label), { sticky: true, className: 'segment-tooltip',
          direction: 'top' })
        .addTo(roads);
    });

    var events = L.layerGroup().addTo(map);
    data.events.features.forEach(function (f) {
      var p = f.properties;
      L.circleMarker(p.marker, { radius: 5, color: '#212121', weight: 2, fillColor: '#ffffff', fillOpacity: 0.95,
        className: 'event event-' + p.id })
        .bindPopup(eventPopup(p, data), { maxWidth: 340, className: 'rk-popup-wrap' })
        .bindTooltip(bdi(p.date) + ' ' + bdi(p.event_type), { className: 'event-tooltip', direction: 'top' })
        .addTo(events);
    });

    // town dots and labels, road names: redrawn at each zoom, biggest first, without overlaps
    var towns = data.towns.features.map(function (f) {
      var p = f.properties, name = rtl && p.name_ar ? p.name_ar : p.name;
      var ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
      var size = p.minzoom <= 5 ? 'big' : (p.minzoom <= 6 ? 'mid' : 'small');
      var dot = L.circleMarker(ll, { radius: size === 'big' ? 4 : 3, color: '#37474f', weight: 1.5,
        fillColor: '#ffffff', fillOpacity: 1, className: 'town-dot', interactive: false });
      dot.bindTooltip(esc(name), { permanent: true, interactive: false, direction: rtl ? 'left' : 'right',
        offset: rtl ? [-4, 0] : [4, 0], className: 'town-label town-' + size, opacity: 1 });
      return { dot: dot, ll: ll, minzoom: p.minzoom, width: name.length * CHAR_PX * (size === 'big' ? 1.15 : 1) + 10 };
    });
    var roadNames = data.roads.map(function (r) {
      return { road: r.road, ll: [r.lat, r.lon], width: r.name.length * 6 + 12,
        tip: L.tooltip({ permanent: true, interactive: false, direction: 'center', className: 'road-label',
          opacity: 1 }).setLatLng([r.lat, r.lon]).setContent(esc(r.name)) };
    });
    var labels = L.layerGroup().addTo(map);

    function placeLabels() {
      var zoom = map.getZoom(), placer = new LabelPlacer(map), placedRoads = {};
      labels.clearLayers();
      towns.forEach(function (t) {
        if (zoom < t.minzoom) { return; }
        var pt = map.latLngToLayerPoint(t.ll);
        var box = rtl ? [pt.x - t.width - 6, pt.y - 9, pt.x + 4, pt.y + 9] : [pt.x - 4, pt.y - 9, pt.x + t.width + 6, pt.y + 9];
        if (!placer.fits(box)) { return; }
        placer.take(box);
        labels.addLayer(t.dot);
      });
      if (zoom >= TOWN_ZOOM_MIN_ROAD) {
        roadNames.forEach(function (r) {
          var pt = map.latLngToLayerPoint(r.ll);
          var mine = placedRoads[r.road] || [];
          for (var i = 0; i < mine.length; i++) { if (pt.distanceTo(mine[i]) < ROAD_LABEL_SPACING) { return; } }
          var box = [pt.x - r.width / 2, pt.y - 9, pt.x + r.width / 2, pt.y + 9];
          if (!placer.fits(box)) { return; }
          placer.take(box);
          mine.push(pt);
          placedRoads[r.road] = mine;
          labels.addLayer(r.tip);
        });
      }
    }

    var control = L.control({ position: 'bottomright' });
    control.onAdd = function () {
      var div = L.DomUtil.create('div', 'rk-legend');
      div.setAttribute('dir', data.dir);
      div.setAttribute('lang', data.lang);
      div.innerHTML = legend(data);
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    control.addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    map.on('zoomend', placeLabels);
    map.fitBounds(bounds);
    placeLabels();
    element.setAttribute('data-segments', String(data.segments.features.length));
    window.riskengineMapObject = map;  // for the page's own controls and the browser tests
    window.riskengineReady = true;
    return map;
  }

  window.riskengineMap = riskengineMap;
}());
