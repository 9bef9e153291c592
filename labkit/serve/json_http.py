"""JSON over HTTP for labkit's aiohttp servers: every refusal is a JSON object with an `error` key.

`read_json` reads a body with a deadline and a size limit and decodes it (malformed, non-UTF-8 or too
deeply nested JSON is a 400), and `errors` is the middleware that answers every error on every route,
aiohttp's own 404/405/413 and unexpected failures included, as `{"error": message}` with its status.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestError(ValueError):
    """A client mistake: answered with this status and {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def loads(body: bytes) -> Any:
    """A request body decoded as JSON, or RequestError(400) saying why it is not."""
    try:
        return json.loads(body)
    except UnicodeDecodeError as error:
        raise RequestError(400, f"malformed JSON: the body is not UTF-8 ({error.reason}).") from None
    except json.JSONDecodeError as error:
        raise RequestError(400, f"malformed JSON: {error}.") from None
    except RecursionError:
        raise RequestError(
            400, "malformed JSON: the body nests arrays or objects too deeply to decode; flatten it."
        ) from None


async def read_json(request: web.Request, *, timeout_s: float, max_bytes: int) -> Any:
    """The request's body decoded as JSON (see `read_body` and `loads`)."""
    return loads(await read_body(request, timeout_s=timeout_s, max_bytes=max_bytes))


async def read_body(request: web.Request, *, timeout_s: float, max_bytes: int) -> bytes:
    """The request's body: 408 when it does not arrive within `timeout_s`, 413 beyond `max_bytes` (the
    application's `client_max_size`, which aiohttp enforces)."""
    try:
        async with asyncio.timeout(timeout_s):
            body = await request.read()
    except TimeoutError:
        request.content.feed_eof()  # nothing more is read: the 408 goes out and the connection closes
        raise RequestError(
            408, f"the request body did not arrive within {timeout_s:g} s; send it whole and retry."
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(413, f"the request body is larger than {max_bytes:,} bytes.") from None
    return body


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer RequestError, aiohttp's HTTP errors and unexpected exceptions as JSON errors."""
    try:
        return await handler(request)
    except RequestError as error:
        return error_response(error.status, str(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(error.status, f"{error.reason}: {request.method} {request.path}.")
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as error:  # a bug or a failed model call: said as a 500, and logged with its traceback
        traceback.print_exc(file=sys.stderr)
        return error_response(500, f"internal server error: {type(error).__name__}: {error}")


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """`{"error": message}` with `status`; a 408 also closes the connection, whose body never came."""
    response = web.json_response({"error": message}, status=status, headers=headers)
    if status == 408:
        response.force_close()
    return response
