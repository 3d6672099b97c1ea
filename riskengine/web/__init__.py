"""The map in a browser: Leaflet shipped with the package, an offline base layer drawn from the
project's own data, and the self-contained HTML page :mod:`riskengine.web.offline_map` writes."""
