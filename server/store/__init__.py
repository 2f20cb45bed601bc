"""The SSM's store: one unit-of-work API (``Store.read`` / ``Store.write``) over small synchronous
repositories, one per aggregate, returning typed rows (``server.store.rows``).

``engine`` owns the SQLite connections, migrations and group commit; ``repos`` hold the SQL;
``uow`` gathers the repositories. A second database engine plugs in behind the same API.
"""

from server.store.engine import Store, StoreError
from server.store.uow import UnitOfWork

__all__ = ["Store", "StoreError", "UnitOfWork"]
