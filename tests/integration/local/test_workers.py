"""The worker pool runs real Python and Node.js workers as Lambda does: cold, warm, reaped."""

import asyncio
import re
import shutil
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from reconciler.adapters.local.functions.workers import (
    FunctionConfig,
    FunctionTimeout,
    InitError,
    PoolClosed,
    PoolStats,
    WorkerCrashed,
)

FUNCTIONS = Path(__file__).parent.parent.parent / "fixtures" / "functions"

# Each implements the same actions (pid, context, env, sleep, fail, crash, log...) in its runtime.
BASIC = {
    "python": ("python3.11", "py-basic", "main.handler"),
    "node": ("nodejs20.x", "node-cjs", "index.handler"),
}

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


def function_config(folder, handler, *, runtime="python3.11", **fields):
    """A config for one fixture function, with test-friendly defaults."""
    fields.setdefault("deployment", "hello")
    fields.setdefault("version", "a1b2c3d4e5f6-1")
    return FunctionConfig(runtime=runtime, handler=handler, code_dir=FUNCTIONS / folder, **fields)


def basic_config(lang, **fields):
    """A config for the basic fixture function of `lang` ("python" or "node")."""
    runtime, folder, handler = BASIC[lang]
    return function_config(folder, handler, runtime=runtime, **fields)


# --- warm and cold ------------------------------------------------------------------------


def test_first_request_cold_starts_a_worker_and_the_next_reuses_it(lang, run, make_pool):
    pool = make_pool(basic_config(lang))

    first = run(pool.invoke({}, request_id="r1"))
    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=1, invocations=1)
    second = run(pool.invoke({}, request_id="r2"))

    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=1, invocations=2)
    assert first.payload["pid"] == second.payload["pid"]  # the same worker process answered


def test_warm_up_leaves_a_loaded_worker_for_the_first_request(lang, run, make_pool):
    pool = make_pool(basic_config(lang))

    run(pool.warm_up())
    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=1, invocations=0)
    run(pool.invoke({}, request_id="r1"))

    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=1, invocations=1)


# --- what a function sees -----------------------------------------------------------------

CONTEXT_NAMES = {
    "python": {
        "request": "aws_request_id",
        "name": "function_name",
        "version": "function_version",
        "memory": "memory_limit_in_mb",
        "arn": "invoked_function_arn",
        "group": "log_group_name",
    },
    "node": {
        "request": "awsRequestId",
        "name": "functionName",
        "version": "functionVersion",
        "memory": "memoryLimitInMB",
        "arn": "invokedFunctionArn",
        "group": "logGroupName",
    },
}


def test_context_carries_lambda_fields_and_the_time_left(lang, run, make_pool):
    config = basic_config(lang, deployment="hello", version="v-7", memory_mb=256)
    pool = make_pool(config)

    payload = run(pool.invoke({"action": "context"}, request_id="req-ctx")).payload

    seen = {key: payload[name] for key, name in CONTEXT_NAMES[lang].items()}
    assert seen == {
        "request": "req-ctx",
        "name": "hello",
        "version": "v-7",
        "memory": "256",  # a string, as in Lambda: it comes from the environment
        "arn": "arn:aws:lambda:us-east-1:000000000000:function:hello",
        "group": "/aws/lambda/hello",
    }
    stream = payload["log_stream_name" if lang == "python" else "logStreamName"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[v-7\][0-9a-f]{32}", stream)
    assert 0 < payload["remaining"] <= config.timeout_seconds * 1000


@needs_node
def test_node_context_offers_callback_waits_for_empty_event_loop(run, make_pool):
    pool = make_pool(basic_config("node"))

    payload = run(pool.invoke({"action": "context"}, request_id="r1")).payload

    assert payload["callbackWaitsForEmptyEventLoop"] is True


LAMBDA_VARIABLES = {
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
    "TZ",
}


def test_function_sees_its_config_environment_and_none_of_the_hosts(
    lang, run, make_pool, monkeypatch
):
    monkeypatch.setenv("RECONCILER_DAEMON_SECRET", "host-only")
    pool = make_pool(basic_config(lang, environment={"GREETING": "hello"}))

    env = run(pool.invoke({"action": "env"}, request_id="r1")).payload

    assert env["GREETING"] == "hello"
    assert "RECONCILER_DAEMON_SECRET" not in env
    # Python may add LC_CTYPE itself when the locale is C (PEP 538).
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_CTYPE", "GREETING", *LAMBDA_VARIABLES}


def test_lambda_reserved_variables_win_over_the_config(lang, run, make_pool):
    attempts = dict.fromkeys(LAMBDA_VARIABLES, "from-the-manifest")
    config = basic_config(lang, environment=attempts, memory_mb=512)
    pool = make_pool(config)

    env = run(pool.invoke({"action": "env"}, request_id="r1")).payload

    assert {name: env[name] for name in LAMBDA_VARIABLES} == {
        "AWS_LAMBDA_FUNCTION_NAME": "hello",
        "AWS_LAMBDA_FUNCTION_VERSION": "a1b2c3d4e5f6-1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(config.code_dir),
        "_HANDLER": config.handler,
        "TZ": "UTC",
    }


@pytest.mark.parametrize("handler", ["pkg.mod.fn", "pkg/mod.fn"], ids=["dotted", "slashed"])
def test_python_handler_may_live_in_a_package(handler, run, make_pool):
    pool = make_pool(function_config("py-basic", handler))

    assert run(pool.invoke({}, request_id="r1")).payload == {"module": "pkg.mod"}


# --- failures -----------------------------------------------------------------------------


def test_request_past_its_timeout_kills_the_worker_and_the_next_cold_starts(lang, run, make_pool):
    pool = make_pool(basic_config(lang, timeout_seconds=2.0))
    before = run(pool.invoke({}, request_id="r1")).payload

    with pytest.raises(FunctionTimeout, match="r2 to hello passed its 2 s timeout"):
        run(pool.invoke({"action": "sleep", "seconds": 60}, request_id="r2"))
    assert pool.stats.workers == 0
    after = run(pool.invoke({}, request_id="r3")).payload

    assert after != before
    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=2, invocations=3)


def test_timeout_kills_the_processes_a_function_started_too(run, make_pool, tmp_path):
    pool = make_pool(basic_config("python", timeout_seconds=2.0))
    pid_file = tmp_path / "child.pid"

    with pytest.raises(FunctionTimeout):
        run(pool.invoke({"action": "spawn-and-sleep", "pid_file": str(pid_file)}, request_id="r1"))

    child = int(pid_file.read_text())
    deadline = time.monotonic() + 30
    while _running(child):
        assert time.monotonic() < deadline, f"child {child} of the killed worker still runs"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    # A killed child whose parent died may linger as a zombie until someone reaps it.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


ERROR_TYPES = {"python": "ValueError", "node": "TypeError"}
SOURCES = {"python": "main.py", "node": "index.js"}


def test_handler_exception_is_an_error_result_and_the_worker_serves_on(lang, run, make_pool):
    pool = make_pool(basic_config(lang))
    before = run(pool.invoke({}, request_id="r1")).payload

    result = run(pool.invoke({"action": "fail"}, request_id="r2"))

    assert result.payload is None
    assert result.error is not None
    assert result.error["errorType"] == ERROR_TYPES[lang]
    assert result.error["errorMessage"] == "boom"
    trace = result.error["stackTrace"]
    assert isinstance(trace, list)
    assert trace
    assert SOURCES[lang] in trace[0]  # the user's frame comes first, not the worker's
    assert run(pool.invoke({}, request_id="r3")).payload == before
    assert pool.stats.cold_starts == 1


def test_return_value_that_is_not_json_is_a_marshal_error(lang, run, make_pool):
    pool = make_pool(basic_config(lang))
    before = run(pool.invoke({}, request_id="r1")).payload

    result = run(pool.invoke({"action": "unserialisable"}, request_id="r2"))

    assert result.error is not None
    assert result.error["errorType"] == "Runtime.MarshalError"
    assert run(pool.invoke({}, request_id="r3")).payload == before


def test_worker_that_dies_mid_request_is_a_crash_and_the_pool_serves_on(lang, run, make_pool):
    pool = make_pool(basic_config(lang))
    before = run(pool.invoke({}, request_id="r1")).payload

    with pytest.raises(WorkerCrashed, match="exited with code 3"):
        run(pool.invoke({"action": "crash"}, request_id="r2"))
    assert pool.stats.workers == 0
    after = run(pool.invoke({}, request_id="r3")).payload

    assert after != before
    assert pool.stats.cold_starts == 2


def test_worker_dying_while_its_child_holds_the_reply_pipe_is_still_a_crash(run, make_pool):
    """The exit is noticed, not only the pipe's end: no waiting for the timeout."""
    pool = make_pool(basic_config("python", timeout_seconds=120.0))

    with pytest.raises(WorkerCrashed, match="exited with code 3"):
        run(pool.invoke({"action": "crash-leaving-child"}, request_id="r1"))

    assert run(pool.invoke({}, request_id="r2")).error is None


def test_worker_that_breaks_the_protocol_is_a_crash(run, make_pool):
    pool = make_pool(basic_config("python", timeout_seconds=120.0))

    with pytest.raises(WorkerCrashed, match="not JSON"):
        run(pool.invoke({"action": "break-protocol"}, request_id="r1"))

    assert pool.stats.workers == 0
    assert run(pool.invoke({}, request_id="r2")).error is None


@needs_node
def test_node_rejection_after_a_reply_ends_the_worker_and_the_pool_recovers(run, make_pool):
    """A rejection outside any request exits the worker; the pool notices while it is idle."""
    pool = make_pool(basic_config("node"))

    with capture_logs() as logs:
        assert run(pool.invoke({"action": "late-rejection"}, request_id="r1")).payload == "replied"
        run(asyncio.wait_for(_until(lambda: pool.stats.workers == 0), timeout=30))
    assert run(pool.invoke({}, request_id="r2")).error is None

    stopped = [e for e in logs if e["event"] == "worker_stopped"]
    assert [(e["reason"], e["log_level"], e["returncode"]) for e in stopped] == [
        ("exited", "warning", 1)
    ]
    assert pool.stats.cold_starts == 2


async def _until(condition):
    # The pool's public stats are what a caller can see; the pool offers no event to wait on.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.02)


# (id, runtime, folder, handler, words the one-line message must contain)
INIT_FAILURES = [
    ("python-missing-module", "python3.11", "py-basic", "nope.fn", "import module 'nope'"),
    ("python-missing-function", "python3.11", "py-basic", "main.nope", "'nope' missing on module"),
    ("python-malformed-handler", "python3.11", "py-basic", "handler", "MalformedHandlerName"),
    ("python-syntax-error", "python3.11", "py-broken", "syntax.handler", "UserCodeSyntaxError"),
    (
        "python-module-raises",
        "python3.11",
        "py-broken",
        "raises.handler",
        "database (RuntimeError)",
    ),
    ("python-not-callable", "python3.11", "py-broken", "notcallable.handler", "is not callable"),
    ("missing-code-folder", "python3.11", "no-such-folder", "main.handler", "does not exist"),
    ("unknown-runtime", "ruby3.3", "py-basic", "main.handler", "'ruby3.3' is not supported"),
    ("node-missing-module", "nodejs20.x", "node-cjs", "nope.fn", "Cannot find module 'nope'"),
    ("node-missing-function", "nodejs20.x", "node-cjs", "index.nope", "not exported"),
    ("node-syntax-error", "nodejs20.x", "node-broken", "syntax.handler", "UserCodeSyntaxError"),
    ("node-module-throws", "nodejs20.x", "node-broken", "raises.handler", "database (Error)"),
    ("node-not-a-function", "nodejs20.x", "node-broken", "notfunction.handler", "not a function"),
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case[1:], id=case[0], marks=[needs_node] if "node" in case[0] else [])
        for case in INIT_FAILURES
    ],
)
def test_handler_that_cannot_load_is_an_init_error_and_leaves_no_worker(case, run, make_pool):
    runtime, folder, handler, words = case
    pool = make_pool(function_config(folder, handler, runtime=runtime))

    with pytest.raises(InitError, match=re.escape(words)) as caught:
        run(pool.warm_up())

    assert "\n" not in str(caught.value)
    assert pool.stats == PoolStats(workers=0, busy=0, cold_starts=0, invocations=0)


def test_request_that_needs_a_cold_start_reports_an_init_error(run, make_pool):
    pool = make_pool(function_config("py-basic", "missing.handler"))

    with pytest.raises(InitError, match="No module named 'missing'"):
        run(pool.invoke({}, request_id="r1"))
    assert pool.stats.workers == 0


def test_node_runtime_without_node_on_path_is_an_init_error(run, make_pool, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    pool = make_pool(function_config("node-cjs", "index.handler", runtime="nodejs22.x"))

    expected = "runtime nodejs22.x needs Node.js, and `node` is not on PATH"
    with pytest.raises(InitError, match=f"^{re.escape(expected)}$"):
        run(pool.invoke({}, request_id="r1"))


# --- output -------------------------------------------------------------------------------

LOADED = {"python": "main.py loaded", "node": "index.js loaded"}


def test_output_lines_are_logged_with_the_request_in_flight(lang, run, make_pool):
    pool = make_pool(basic_config(lang, deployment="hello", version="v-7"))

    with capture_logs() as logs:
        run(pool.invoke({"action": "log"}, request_id="req-log"))
        run(pool.invoke({}, request_id="req-quiet"))

    records = [e for e in logs if e["event"] == "function_log"]

    def lines(stream):
        # Order holds within a stream; stdout and stderr are two pipes, read independently.
        return [(e["line"][:20], e["request_id"]) for e in records if e["stream"] == stream]

    assert lines("stdout") == [
        (LOADED[lang], None),  # printed while loading, before any request
        ("to stdout", "req-log"),
        ("x" * 20, "req-log"),
        ("no newline", "req-log"),  # the end mark is not logged, what came before it is
    ]
    assert lines("stderr") == [("to stderr", "req-log")]
    assert {(e["deployment"], e["version"], e["log_level"]) for e in records} == {
        ("hello", "v-7", "info")
    }


def test_long_output_line_is_cut_at_8_kib(run, make_pool):
    pool = make_pool(basic_config("python"))

    with capture_logs() as logs:
        run(pool.invoke({"action": "log"}, request_id="r1"))

    long = [e["line"] for e in logs if e.get("line", "").startswith("xxx")]
    assert long == ["x" * 8192]


def test_environment_values_never_reach_the_logs(lang, run, make_pool):
    pool = make_pool(basic_config(lang, environment={"API_TOKEN": "tok-5ecret"}))

    with capture_logs() as logs:
        run(pool.warm_up())
        run(pool.invoke({"action": "fail"}, request_id="r1"))
        with pytest.raises(WorkerCrashed):
            run(pool.invoke({"action": "crash"}, request_id="r2"))
        run(pool.invoke({}, request_id="r3"))
        run(pool.close())

    assert logs
    assert "tok-5ecret" not in repr(logs)
    assert "tok-5ecret" not in repr(pool._config)


# --- scaling and shutdown -----------------------------------------------------------------


def _sleepers(pool, count, seconds=0.3):
    async def together():
        return await asyncio.gather(
            *(
                pool.invoke({"action": "sleep", "seconds": seconds}, request_id=f"r{i}")
                for i in range(count)
            )
        )

    return together()


def test_concurrent_requests_each_get_their_own_worker(run, make_pool):
    pool = make_pool(basic_config("python"), max_workers=3)

    results = run(_sleepers(pool, 3))

    assert len({r.payload["pid"] for r in results}) == 3
    assert pool.stats == PoolStats(workers=3, busy=0, cold_starts=3, invocations=3)


def test_one_worker_at_most_serialises_requests(run, make_pool):
    pool = make_pool(basic_config("python"), max_workers=1)

    results = run(_sleepers(pool, 3, seconds=0.05))

    assert len({r.payload["pid"] for r in results}) == 1
    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=1, invocations=3)


def test_workers_idle_past_idle_timeout_are_reaped(run, make_pool):
    pool = make_pool(basic_config("python"), idle_timeout=60.0)
    run(pool.invoke({}, request_id="r1"))

    assert run(pool.reap_idle()) == 0  # used a moment ago
    assert run(pool.reap_idle(now=time.monotonic() + 3600)) == 1
    assert pool.stats.workers == 0
    run(pool.invoke({}, request_id="r2"))

    assert pool.stats == PoolStats(workers=1, busy=0, cold_starts=2, invocations=2)


def test_drain_lets_the_request_in_flight_finish_then_stops_every_worker(run, make_pool):
    pool = make_pool(basic_config("python"))

    async def drain_during_a_request():
        slow = asyncio.create_task(
            pool.invoke({"action": "sleep", "seconds": 0.5}, request_id="slow")
        )
        await _until(lambda: pool.stats.invocations == 1)  # handed to a worker
        await pool.drain()
        assert slow.done()
        return slow.result()

    result = run(asyncio.wait_for(drain_during_a_request(), timeout=30))

    assert result.error is None
    assert pool.stats.workers == 0
    with pytest.raises(PoolClosed):
        run(pool.invoke({}, request_id="late"))


def test_close_kills_busy_workers_and_refuses_new_requests(run, make_pool):
    pool = make_pool(basic_config("python"))

    async def close_during_a_request():
        slow = asyncio.create_task(pool.invoke({"action": "sleep", "seconds": 60}, request_id="s"))
        await _until(lambda: pool.stats.invocations == 1)
        await pool.close()
        with pytest.raises(PoolClosed):
            await slow

    run(asyncio.wait_for(close_during_a_request(), timeout=30))

    assert pool.stats.workers == 0
    with pytest.raises(PoolClosed):
        run(pool.warm_up())


# --- Node.js module styles ----------------------------------------------------------------

# (id, folder, handler, event, expected payload)
NODE_HANDLERS = [
    ("commonjs-default-only", "node-cjs", "index.dynamic", {}, {"kind": "dynamic"}),
    ("esm-mjs", "node-esm", "index.handler", {}, {"kind": "esm", "requestId": "r1"}),
    ("promise", "node-esm", "index.promise", {"value": 5}, {"kind": "promise", "echo": 5}),
    ("esm-js-type-module", "node-esm-js", "index.handler", {}, {"kind": "esm-js"}),
    ("subfolder-cjs", "node-lib", "lib/index.handler", {}, {"kind": "lib"}),
]


@needs_node
@pytest.mark.parametrize("case", [pytest.param(c[1:], id=c[0]) for c in NODE_HANDLERS])
def test_node_loads_each_module_style(case, run, make_pool):
    folder, handler, event, expected = case
    pool = make_pool(function_config(folder, handler, runtime="nodejs20.x"))

    result = run(pool.invoke(event, request_id="r1"))

    assert result.error is None
    assert result.payload == expected


@needs_node
def test_node_callback_handler_answers_through_its_callback(run, make_pool):
    pool = make_pool(function_config("node-callback", "index.handler", runtime="nodejs20.x"))

    first = run(pool.invoke({}, request_id="r1")).payload
    second = run(pool.invoke({}, request_id="r2")).payload

    assert first["kind"] == "callback"
    assert first == second  # the callback completed the request and the worker stayed warm


@needs_node
def test_node_callback_error_is_an_error_result(run, make_pool):
    pool = make_pool(function_config("node-callback", "index.fails", runtime="nodejs20.x"))

    result = run(pool.invoke({}, request_id="r1"))

    assert result.error is not None
    assert (result.error["errorType"], result.error["errorMessage"]) == (
        "RangeError",
        "callback failed",
    )
    assert pool.stats.workers == 1
