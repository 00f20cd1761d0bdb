"""Policies every feature shares, each written once (pure: no I/O, no clock of their own).

* `backoff`: how long to wait before trying again (jitter, cap, a floor under the server's word).
* `retry_after`: reading a `Retry-After` header, in both of its forms.
* `ncrontab`: reading a timer schedule as the Azure Functions host does.
* `clock_skew`: how far our clock and the platform's may disagree.
* `concurrency`: how many requests to keep in flight against a server that paces its users.
"""
