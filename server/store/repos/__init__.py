"""One small repository per aggregate of the SSM's store; ``server.store.uow`` gathers them."""
