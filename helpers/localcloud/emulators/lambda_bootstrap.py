"""The Python runtime's side of one local Lambda invocation: what Lambda's `python3.x` runtime does in its sandbox.

`lambda_runner` runs this file's source with `python -c` in a fresh process whose working directory and only
`PYTHONPATH` entry is the function's extracted code (Lambda's /var/task), so the function imports its own modules
and nothing of the workbook's. The event comes on stdin; the answer (payload or Lambda's error object) is written
as JSON to the file named in argv[2], so that whatever the function prints stays log text.
Errors are Lambda's own: errorMessage, errorType, requestId, stackTrace, and Runtime.* types for bad handlers.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
import traceback


class LambdaContext:
    """The context object Lambda passes as the handler's second argument (the attributes handlers use)."""

    def __init__(self, meta: dict):
        self.function_name = meta["function_name"]
        self.function_version = meta["function_version"]
        self.invoked_function_arn = meta["invoked_function_arn"]
        self.memory_limit_in_mb = meta["memory_limit_in_mb"]
        self.aws_request_id = meta["request_id"]
        self.log_group_name = meta["log_group_name"]
        self.log_stream_name = meta["log_stream_name"]
        self.identity = self.client_context = None
        self._deadline_ms = meta["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _error(kind: str, message: str, request_id: str, stack: list[str] | None = None) -> dict:
    return {"error": {"errorMessage": message, "errorType": kind, "requestId": request_id, "stackTrace": stack or []}}


def _log_exception(exc: BaseException, stack: list[str]) -> None:
    # Lambda logs an unhandled exception as "[ERROR] Type: message" followed by the traceback.
    print(f"[ERROR] {type(exc).__name__}: {exc}\nTraceback (most recent call last):\n{''.join(stack)}".rstrip(), flush=True)


def run(meta: dict, event_text: str) -> dict:
    request_id, handler = meta["request_id"], meta["handler"]
    module_name, _, name = handler.rpartition(".")
    if not module_name:
        return _error("Runtime.MalformedHandlerName", f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)",
                      request_id)
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return _error("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", request_id)
    except ImportError as exc:
        return _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", request_id)
    except Exception as exc:  # an error while the module initialises is reported as itself
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
        _log_exception(exc, stack)
        return _error(type(exc).__name__, str(exc), request_id, stack)
    function = getattr(module, name, None)
    if function is None:
        return _error("Runtime.HandlerNotFound", f"Handler '{name}' missing on module '{module_name}'", request_id)
    try:
        result = function(json.loads(event_text), LambdaContext(meta))
    except Exception as exc:
        stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])  # from the handler down
        _log_exception(exc, stack)
        return _error(type(exc).__name__, str(exc), request_id, stack)
    try:
        return {"payload": json.dumps(result)}
    except (TypeError, ValueError) as exc:
        return _error("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id)


def main() -> None:
    meta, answer_path = json.loads(sys.argv[1]), sys.argv[2]
    # Log records go to stdout, hence to the function's log, with their level first (as the runner always printed them).
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s", stream=sys.stdout, force=True)
    answer = run(meta, sys.stdin.read())
    sys.stdout.flush()
    with open(answer_path, "w") as out:
        json.dump(answer, out)


if __name__ == "__main__":
    main()
