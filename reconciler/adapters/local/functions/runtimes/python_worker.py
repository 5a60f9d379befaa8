"""Run one Python function the way AWS Lambda does, driven by the local cloud's worker pool.

Started as `python -I -u python_worker.py [IN_FD OUT_FD]` with the function's folder as cwd.
Standard library only: it runs inside the user's function environment, never imports reconciler.
The host speaks newline-delimited JSON: messages in on IN_FD (default 3), replies out on OUT_FD
(default 4); stdout and stderr belong to the function.
"""

# ruff: noqa: INP001  # a standalone script run by path, never imported as part of a package

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, NoReturn

Handler = Callable[[object, "LambdaContext"], object]

# Ends every invocation's output on stdout and stderr, so the host can tell which lines came
# before the reply. The NUL byte keeps it apart from anything a function prints by accident.
FLUSH_MARK = "\0reconciler:flushed:"

# Read once at start, as Lambda's runtime does: a function changing os.environ changes nothing.
FUNCTION_NAME = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
FUNCTION_VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
# Lambda gives the memory size as the string it reads from the environment.
MEMORY_SIZE = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
REGION = os.environ.get("AWS_REGION", "us-east-1")
HANDLER = os.environ.get("_HANDLER", "")
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", str(Path.cwd()))
# One log stream per worker process, named as Lambda names a sandbox's stream.
LOG_STREAM = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{FUNCTION_VERSION}]{uuid.uuid4().hex}"


class LambdaContext:
    """The `context` argument, with the attribute names of Lambda's Python runtime."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = FUNCTION_NAME
        self.function_version = FUNCTION_VERSION
        self.memory_limit_in_mb = MEMORY_SIZE
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:000000000000:function:{FUNCTION_NAME}"
        self.log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
        self.log_stream_name = LOG_STREAM
        self.identity: object = None
        self.client_context: object = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the host stops this invocation."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


class InitFailedError(Exception):
    """The handler could not be loaded; carries Lambda's error type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def load_handler(spec: str) -> Handler:
    """Import `pkg.module.function` (or `dir/module.function`) and return the function."""
    module_name, _, function_name = spec.replace("/", ".").rpartition(".")
    if not module_name or not function_name:
        raise InitFailedError(
            "Runtime.MalformedHandlerName", f"Bad handler {spec!r}: use module.function"
        )
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise InitFailedError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module {module_name!r}: {exc}"
        ) from exc
    except ImportError as exc:
        raise InitFailedError(
            "Runtime.ImportModuleError", f"Unable to import module {module_name!r}: {exc}"
        ) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise InitFailedError(
            "Runtime.HandlerNotFound",
            f"Handler {function_name!r} missing on module {module_name!r}",
        )
    if not callable(handler):
        raise InitFailedError(
            "Runtime.HandlerNotFound",
            f"Handler {function_name!r} in {module_name!r} is not callable",
        )
    return handler  # type: ignore[no-any-return]  # callable() cannot narrow to the signature


def error_body(exc: BaseException) -> dict[str, object]:
    """Describe a handler's exception as Lambda does: type, message and stack lines."""
    # The first frame is this script calling the handler: not the user's business.
    frames = traceback.extract_tb(exc.__traceback__)[1:]
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": [line.rstrip("\n") for line in traceback.format_list(frames)],
    }


def invoke(handler: Handler, message: dict[str, object]) -> str:
    """Call the handler on one event and return the reply line."""
    request_id = str(message["requestId"])
    deadline = message.get("deadlineMs")
    context = LambdaContext(request_id, deadline if isinstance(deadline, int) else 0)
    try:
        result = handler(message.get("event"), context)
    except Exception as exc:  # noqa: BLE001  # a handler's error is a result, the worker lives on
        traceback.print_exc()
        return encode({"type": "error", "requestId": request_id, "error": error_body(exc)})
    try:
        payload = json.dumps(result, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        marshal_error = {
            "errorType": "Runtime.MarshalError",
            "errorMessage": f"Unable to marshal response: {exc}",
            "stackTrace": [],
        }
        return encode({"type": "error", "requestId": request_id, "error": marshal_error})
    # Splice the payload in rather than encoding the result twice.
    head = encode({"type": "result", "requestId": request_id})
    return f'{head[:-1]},"payload":{payload}}}'


def mark_flushed(request_id: str) -> None:
    """Write the end-of-invocation mark on stdout and stderr, after what the handler wrote."""
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        try:
            stream.flush()
            os.write(fd, f"{FLUSH_MARK}{request_id}\n".encode())
        except (OSError, ValueError):
            # The function closed or replaced the stream; the host stops waiting after a moment.
            continue


def encode(message: dict[str, object]) -> str:
    """Encode one message as compact JSON."""
    return json.dumps(message, separators=(",", ":"))


def send(out: BinaryIO, line: str) -> None:
    """Write one message line to the host."""
    out.write(line.encode() + b"\n")
    out.flush()


def serve(inbox: BinaryIO, out: BinaryIO) -> None:
    """Answer the host's messages until it closes the pipe."""
    handler: Handler | None = None
    for line in inbox:
        message = json.loads(line)
        kind = message.get("type")
        if kind == "init":
            try:
                handler = load_handler(HANDLER)
            except InitFailedError as exc:
                error = {"errorType": exc.error_type, "errorMessage": str(exc)}
                send(out, encode({"type": "init_error", "error": error}))
                return
            except Exception as exc:  # noqa: BLE001  # module code raised while importing
                error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
                traceback.print_exc()
                send(out, encode({"type": "init_error", "error": error}))
                return
            send(out, encode({"type": "ready"}))
        elif kind == "invoke" and handler is not None:
            reply = invoke(handler, message)
            mark_flushed(str(message["requestId"]))
            send(out, reply)
        else:
            sys.stderr.write(f"python_worker: unexpected message {kind!r}\n")
            return


def main() -> NoReturn:
    """Open the protocol pipes, put the function's folder on sys.path and serve."""
    in_fd, out_fd = (int(sys.argv[1]), int(sys.argv[2])) if sys.argv[2:] else (3, 4)
    # The function's own subprocesses must not hold the protocol pipes open.
    os.set_inheritable(in_fd, False)  # noqa: FBT003  # os's own positional flag
    os.set_inheritable(out_fd, False)  # noqa: FBT003
    sys.path.insert(0, TASK_ROOT)
    # The function's own dependencies, installed beside its code by the local engine.
    packages = os.environ.get("RECONCILER_PYTHON_PACKAGES")
    if packages:
        sys.path.insert(1, packages)
    with os.fdopen(in_fd, "rb") as inbox, os.fdopen(out_fd, "wb") as out:
        serve(inbox, out)
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit now, even if the function left non-daemon threads running.
    os._exit(0)


if __name__ == "__main__":
    main()
