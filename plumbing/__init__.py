"""What both processes and the command lines stand on, in three parts:

- ``plumbing.web``: the server side of aiohttp (route tables, the body decoder, JSON errors and
  the request log line, serving, the ``/_lab/clock`` routes);
- ``plumbing.clients``: HTTP clients (the device plane's client half, the lab-plane client);
- ``plumbing.sqlite``: running a whole transaction in an aiosqlite connection's thread;
- ``plumbing.cmdline``: parent parsers and tables for the three command lines.

May import ``shared``, aiohttp and the libraries; must not import ``server``, ``agent`` or ``lab``.
"""
