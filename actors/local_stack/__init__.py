"""The whole pipeline on this machine in one call: for ``skusync demo``, benchmarks and tests.

Usage::

    from actors.local_stack import LocalStack, StackSpec

    spec = StackSpec(skus=200, initial_quantity=20, shopify_accounts=1, woocommerce_accounts=1)
    with LocalStack(spec) as stack:          # start() ... stop()
        stack.start_shoppers(duration_s=3, rate_per_s=20)
        stack.wait_shoppers()
        assert stack.wait_converged(timeout_s=60)
        stack.accounts["shop-1"].store       # the simulator's SimulatedStore (sales, received...)
        stack.gateway_url, stack.admin_token # admin API: Authorization: Bearer <token>

``start()`` serves one simulator per account on loopback, builds the ``Config`` (one channel per
account, fresh secrets), starts the store (embedded unless ``redis_url``), stores each channel's
catalog and its seeded listing as already synced, starts the channel actors, then the shards with
fan-out, seeds master stock with ``stock_set`` events, serves the gateway on a thread and gets a
shopper loop ready. ``stop()`` kills every detached actor it created, stops every thread, and shuts
Ray down if it started it. Simulator figures (``adapters.sim.lag``) and the per-channel run report
(``actors.local_stack.report``) read from the stack after a run.
"""

from actors.local_stack.spec import Account, StackSpec
from actors.local_stack.stack import LocalStack

__all__ = ["Account", "LocalStack", "StackSpec"]
