"""ssmlab's pure core: licensing rules, messages, PKI, tokens, clocks.

No sockets, no files, no database, no wall clock (``shared.clock`` alone may read real time
and use asyncio). May import only the standard library, cryptography, pyjwt, msgspec and
structlog. ``tests/test_layering.py`` enforces this.
"""
