"""The Smart Agent's product instance as a sans-IO machine: events in, commands out.

``machine.InstanceMachine`` takes ``events`` (time, a person's action, the SSM's answer) and
returns ``commands`` (send, persist, log, wake at, answer) that a thin IO shell (``agent.
instance``) executes. Randomness comes through ``entropy``.
"""
