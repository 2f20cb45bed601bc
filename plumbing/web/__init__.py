"""Server-side aiohttp pieces both processes use: route tables (planes), the body decoder, the
request middleware (one log line, JSON errors), serving, the ``/_lab/clock`` routes."""
