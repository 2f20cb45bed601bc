"""The fleet on Locust: product instances as Locust users (``locustfile``), each a ``device.Device``
speaking the real device protocol; ``locust --master`` and ``--worker`` processes on any number of
machines drive one SSM (docs/scale-out.md)."""
