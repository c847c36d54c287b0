"""The lake's website: a read-only Starlette application over the catalogue and the store.

``app.create_app`` builds it; ``params`` turns an HTTP query string into ``Catalogue.find``
keywords (the one place the HTTP, CLI and Python searches could drift); ``api`` holds the JSON
routes and their OpenAPI document; ``pages`` the HTML pages; ``site`` the state they share (where
the catalogue is, the store, the refresh loop and its notice). Nothing here writes to the lake.
"""
