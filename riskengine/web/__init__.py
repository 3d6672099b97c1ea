"""The risk in a browser, with no network: the self-contained map page (:mod:`.offline_map`: Leaflet
shipped with the package, a ground drawn from the project's own data) and the live board of
``riskengine serve`` (:mod:`.app`, :mod:`.pages`, :mod:`.api`), which serves the same map, the main
routes, recent events and the exports."""
