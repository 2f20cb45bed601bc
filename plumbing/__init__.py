"""aiohttp plumbing used by both processes (and the lab CLI): JSON errors, one log line per
request, body limits, the ``/_lab/clock`` endpoints.

May import ``shared`` and aiohttp; must not import ``server``, ``agent`` or ``lab``.
"""
