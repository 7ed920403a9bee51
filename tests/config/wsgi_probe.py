"""Run as a script: import the WSGI application under the environment's settings and GET some paths.

Prints one JSON object: ``{path: {"status": int, "headers": {...}, "body": str}}``; with ``follow``, the
local files an HTML answer links (``src``/``href`` starting with ``/``) are fetched too. A test runs it in
a subprocess, so the production settings (which refuse to load without their secrets) are imported
exactly as gunicorn imports them, and the request goes through every middleware, WhiteNoise included.
"""

from __future__ import annotations

import io
import json
import re
import sys
from wsgiref.util import setup_testing_defaults


def get(application, path: str, headers: dict[str, str]) -> dict:
    environ: dict = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    setup_testing_defaults(environ)
    answer: dict = {}

    def start_response(status: str, response_headers: list, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}

    chunks = application(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    answer["body"] = body.decode("utf-8", errors="replace")
    return answer


def main() -> None:
    request = json.loads(sys.argv[1])
    from config.wsgi import application

    answers = {path: get(application, path, request["headers"]) for path in request["paths"]}
    if request.get("follow"):
        for answer in list(answers.values()):
            if answer["headers"].get("content-type", "").startswith("text/html"):
                for link in re.findall(r"""(?:src|href)=["'](/[^"']*)["']""", answer["body"]):
                    answers.setdefault(link, get(application, link, request["headers"]))
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
