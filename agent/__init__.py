"""ssmlab's Smart Agent: a daemon that plays one or more product instances.

Must not import ``server``.
"""
