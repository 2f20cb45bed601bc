"""The Smart Agent's product instance as a sans-IO machine: events in, commands out.

- ``events``: what the machine is told (time, a person's action, the SSM's answer);
- ``commands``: what it asks its shell to do (send, persist, log, wake at, answer);
- ``engine``: runs work as generators paused at each ``Send``; ``automatic``: the timer's
  work; ``machine``: ``InstanceMachine``, the person's actions and which work each event starts;
- ``entropy``: the randomness seam.

The IO shell that executes the commands is ``agent.instance``. Pure: no IO, no clock.
"""
