"""This plugin's tests run on one torch thread (their tensors are tiny; on a busy 2-core machine a 2-thread
pool only adds waits)."""

from forwardkit.testing.fixtures import one_torch_thread  # noqa: F401  (autouse)
