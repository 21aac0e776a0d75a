"""The live dashboard at ``/ui/``: server-rendered pages over the engine and the faces'
use-cases (never the store), refreshed in place by htmx; its actions call the JSON API.

- :mod:`.views`: what each page shows, read through the engine and the faces' services;
- :mod:`.http`: the routes (``ROUTES``), the templates' environment, the static files;
- ``templates/``: Jinja2 pages, each with a ``live`` part that the page polls;
- ``static/``: the dashboard's own script and style, and the vendored htmx and uPlot
  (``static/vendor``, refreshed by ``scripts/update-ui-assets``, licences beside them).
"""
