"""ssmlab's SSM emulator: the aiohttp shell around the pure core in ``shared``.

Must not import ``agent``.
"""
