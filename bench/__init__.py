"""``make bench``: ssmlab's performance figures, measured side by side with two bare-aiohttp
references on the same machine. See bench/README.md and bench/RESULTS.md."""
