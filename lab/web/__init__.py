"""The lab console: a web page that shows and drives the lab as ``ssmlab`` does, over the two
processes' HTTP APIs only (it never imports the SSM or the agent).

- ``app``: the application, its route table (the web plane) and guards;
- ``views``: the pages and their live fragments; ``actions``: the forms' posts;
- ``cards``: what each part of a page shows; ``forms``: reading the forms;
- ``backend``: the calls to both processes, shared reads, the clock in lockstep;
- ``runner``: built-in scenarios played on a private lab, watched as they play;
- ``__main__``: ``python -m lab.web --dir var/lab --port 8780``, started by ``ssmlab run``/``up``.
"""
