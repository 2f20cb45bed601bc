"""What leaves the SSM on its own: notifications as e-mails (SMTP) and events as webhook calls.

- ``subscriptions``: each Smart Account's notification addresses and webhook subscriptions (the
  service the CLI, the admin API and the portal call);
- ``messages``: a notification as an e-mail, an event as a webhook's JSON body and headers;
- ``senders``: the IO of one attempt (aiosmtplib; aiohttp's client);
- ``dispatcher``: the background task that makes the due attempts and records each outcome.

A delivery row is written in the transaction that records its notification or event
(``server.store.repos.deliveries``); the rules of states and retries are ``shared.delivery``'s.
"""
