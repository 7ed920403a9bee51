"""The storefront API's shared contract: every app's views use these pieces, and only these.

- ``errors``: RFC 9457 problem details. ``exception_handler`` is DRF's EXCEPTION_HANDLER;
  ``ApiProblemMiddleware`` turns whatever Django answers under ``/api/`` outside DRF (unknown
  URLs, 405 from plain views, oversized bodies, 500s) into the same JSON shape, never HTML.
  ``problem()`` builds one by hand; ``ProblemError`` is an APIException with a stable ``code``.
- ``schema``: ``ProblemSerializer``, ``problem_responses(...)`` for ``extend_schema`` and
  ``ProblemAutoSchema``, which adds the statuses every operation can return (401 for a bad
  token, 429, 400/413/415 for bodies, 404 for path ids...) so the OpenAPI document lists them all.
- ``authentication``: per-device token (``Authorization: Token <key>`` or ``Bearer <key>``, looked up
  by hash through the shared token cache of ``accounts.tokens``) and session authentication (a CSRF
  failure is ``csrf_failed``); an anonymous caller of a protected endpoint gets 401 with
  ``WWW-Authenticate``.
- ``throttling``: scoped throttles (anon, customer, sign-in per IP and per username, orders) whose
  rates come from ``settings.API_THROTTLE_RATES`` (read from the environment) at request time,
  counted atomically in the cache over a sliding window.
- ``converters``: the ``<id:...>`` path converter (a bigint id; anything larger is a 404).
- ``pagination``: ``PageNumberPagination`` with ``?page_size=`` capped at ``API_MAX_PAGE_SIZE``.
"""
