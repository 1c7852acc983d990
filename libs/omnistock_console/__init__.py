"""The staff console: the web page store and warehouse staff work from, on a store tablet or a
warehouse handheld. Server-rendered (Starlette, Jinja2, htmx), live by server-sent events, and
calling the services through the Omnistock client with the signed-in person's own token.

    omnistock console            # serve it (OMNISTOCK_CONSOLE_PORT, default 8080)
    python -m omnistock_console  # the same
"""
