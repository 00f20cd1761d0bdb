"""How many requests to keep in flight against a server that paces its users (pure).

Dataverse charges each request's duration to a user's combined execution time (1,200 s per
300 s sliding window, reference §7.1): requests beyond what the server serves at once only
wait longer inside it, and every one of them is charged its wait. Past that point more
parallel requests buy no rows, they buy refusals, and each refusal costs a whole `Retry-After`
(and "repeated abuse lengthens Retry-After"). The refusal itself says what to do: "Decrease
number of concurrent requests or reduce the duration of requests and try again later."

So the degree of parallelism is adjusted as TCP's congestion window is (additive increase,
multiplicative decrease): halved when a refusal names execution time or concurrency, one more
after a stretch of work served without any refusal, never above the server's recommendation
(`x-ms-dop-hint`, bounded by the caller) nor below one. A refusal for the request count is
waited out and changes nothing: fewer requests at once do not make fewer requests.
"""

from __future__ import annotations


def next_concurrency(current: int, ceiling: int, *, slowed: bool, clean: bool) -> int:
    """The parallelism for the next stretch of work.

    `slowed`: the server refused a request for execution time or concurrency in the stretch
    just done; `clean`: the stretch made progress and met no refusal of any kind.
    """
    ceiling = max(1, ceiling)
    current = min(max(1, current), ceiling)
    if slowed:
        return max(1, current // 2)
    if clean:
        return min(ceiling, current + 1)
    return current
