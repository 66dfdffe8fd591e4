"""One request in, one Reply out, for either door: the route and method decide what it is,
and nothing raises out of here (a failure is a Reply with its status)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from .config import RuntimeConfig
from .engine import Engine
from .errors import ClientGone, MethodNotAllowed, NotFoundError, RequestError, ServingError
from .openai_request import MODELS_ROUTES, parse_request
from .streaming import CUTOFF_FIELD, Reply

log = logging.getLogger("gguf_serving")

_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine, configured from the environment on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine(RuntimeConfig.from_env())
    return _engine


def reset_engine(engine: Engine | None = None) -> None:
    """Replace the process-wide engine (tests; a new environment)."""
    global _engine
    with _engine_lock:
        _engine = engine


def models_list(engine: Engine) -> dict[str, Any]:
    """GET /v1/models in OpenAI's shape: the one model this runtime serves."""
    created = int(engine.state.path.stat().st_mtime) if engine.state.path is not None else int(time.time())
    return {"object": "list", "data": [{"id": engine.model_name, "object": "model", "created": created,
                                        "owned_by": "tierwise"}]}


def error_reply(error: ServingError) -> Reply:
    return Reply(error.status, error.body(), headers=error.headers(), error=error)


def respond(payload: Any, route: str | None = None, *, method: str = "POST", deadline: float | None = None,
            engine: Engine | None = None, arrival: float | None = None,
            cancelled: Callable[[], bool] | None = None) -> Reply:
    """Answer one request (either door). Never raises: a failure is a Reply with its
    status and ``error`` set. ``deadline`` is the host's own (Lambda's timeout);
    ``arrival`` when the request came in (the queue's wait limit counts from it);
    ``cancelled`` tells whether the caller has gone (SageMaker's door polls the socket)."""
    try:
        engine = engine or get_engine()
        path = (route or "").split("?")[0].rstrip("/")
        if method == "GET":
            if path in MODELS_ROUTES:
                engine.load()
                return Reply(200, models_list(engine))
            raise NotFoundError(f"no such route {route[:200]!r} for GET; GET /v1/models lists the model",
                                code="not_found")
        if method != "POST":
            raise MethodNotAllowed(f"method {method} is not allowed; POST a completion request, GET /v1/models")
        request = parse_request(payload, route)
        if request.stream:
            return Reply(200, stream=engine.stream(request, arrival=arrival, deadline=deadline, cancelled=cancelled))
        result = engine.generate(request, arrival=arrival, deadline=deadline, cancelled=cancelled)
        headers = {"x-tierwise-cutoff": "generation_timeout"} if CUTOFF_FIELD in result else {}
        return Reply(200, result, headers=headers)
    except ClientGone:
        log.info("the caller went away before its answer; generation stopped")
        return Reply(499, None, client_gone=True)
    except ServingError as exc:
        if exc.status >= 500:
            log.error("%s: %s", exc.error_type, exc.message)
        return error_reply(exc)
    except Exception as exc:  # a bug must not take the sandbox down with it
        log.exception("unexpected error while serving a request")
        return error_reply(ServingError(f"internal error: {type(exc).__name__}: {exc}"))


def handle(payload: Any, route: str | None = None, *, deadline: float | None = None,
           engine: Engine | None = None) -> tuple[int, dict[str, Any]]:
    """Answer one non-streamed POST: (HTTP status, JSON-able body). Never raises."""
    reply = respond(payload, route, deadline=deadline, engine=engine)
    if reply.stream is not None:
        reply.close()
        error = RequestError("this entry point answers whole responses; set 'stream' to false", param="stream")
        return error.status, error.body()
    return reply.status, reply.body
