"""The lake's website: a read-only Starlette application over the catalogue and the store.

``app.create_app`` builds it; ``params`` turns an HTTP query string into the catalogue's one
``Query`` and generates the form, links and OpenAPI parameters from its declarations; ``api``
holds the JSON routes and their OpenAPI document; ``pages`` the HTML pages; ``site`` the state they share (where
the catalogue is, the store, the refresh loop and its notice). Nothing here writes to the lake.
"""
