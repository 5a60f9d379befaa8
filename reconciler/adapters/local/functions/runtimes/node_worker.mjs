// Run one Node.js function the way AWS Lambda does, driven by the local cloud's worker pool.
//
// Started as `node node_worker.mjs [IN_FD OUT_FD]` with the function's folder as cwd. No npm
// packages: it runs inside the user's function environment. The host speaks newline-delimited
// JSON: messages in on IN_FD (default 3), replies out on OUT_FD (default 4); stdout and stderr
// belong to the function.

import { randomUUID } from "node:crypto";
import { existsSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

// Ends every invocation's output on stdout and stderr, so the host can tell which lines came
// before the reply. The NUL byte keeps it apart from anything a function prints by accident.
const FLUSH_MARK = "\0reconciler:flushed:";
const EXTENSIONS = [".js", ".mjs", ".cjs"];
const SELF = fileURLToPath(import.meta.url);

const [inFd, outFd] = process.argv.length > 3 ? [Number(process.argv[2]), Number(process.argv[3])] : [3, 4];
const env = process.env;
const functionName = env.AWS_LAMBDA_FUNCTION_NAME ?? "";
const functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION ?? "$LATEST";
const region = env.AWS_REGION ?? "us-east-1";
const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/");
const logStreamName = `${day}/[${functionVersion}]${randomUUID().replaceAll("-", "")}`;

class InitFailure extends Error {
  constructor(errorType, message) {
    super(message);
    this.errorType = errorType;
  }
}

function send(message) {
  sendLine(JSON.stringify(message));
}

function sendLine(line) {
  // Synchronous, so a reply is never lost to a process.exit() right after it.
  const data = Buffer.from(`${line}\n`);
  let written = 0;
  while (written < data.length) {
    written += writeSync(outFd, data, written);
  }
}

async function loadHandler(spec) {
  // As Lambda: everything before the first dot is the module path, the rest names the function.
  const match = /^([^.]+)\.(.+)$/.exec(spec);
  if (!match) {
    throw new InitFailure("Runtime.MalformedHandlerName", `Bad handler '${spec}': use module.function`);
  }
  const [, modulePath, functionPath] = match;
  const root = env.LAMBDA_TASK_ROOT ?? process.cwd();
  const file = EXTENSIONS.map((ext) => join(root, modulePath + ext)).find((path) => existsSync(path));
  if (!file) {
    const tried = EXTENSIONS.map((ext) => modulePath + ext).join(", ");
    throw new InitFailure("Runtime.ImportModuleError", `Cannot find module '${modulePath}' (looked for ${tried})`);
  }
  let module;
  try {
    module = await import(pathToFileURL(file).href);
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new InitFailure("Runtime.UserCodeSyntaxError", `${error.name}: ${error.message}`);
    }
    if (error?.code === "ERR_MODULE_NOT_FOUND" || error?.code === "MODULE_NOT_FOUND") {
      throw new InitFailure("Runtime.ImportModuleError", `Error: ${error.message}`);
    }
    throw error;
  }
  // CommonJS exports the linker cannot see statically only appear on `default`.
  const handler = resolve(module, functionPath) ?? resolve(module.default, functionPath);
  if (handler === undefined) {
    throw new InitFailure("Runtime.HandlerNotFound", `${modulePath}.${functionPath} is undefined or not exported`);
  }
  if (typeof handler !== "function") {
    throw new InitFailure("Runtime.HandlerNotFound", `${modulePath}.${functionPath} is not a function`);
  }
  return handler;
}

function resolve(target, path) {
  let value = target;
  for (const key of path.split(".")) {
    if (value === null || value === undefined) {
      return undefined;
    }
    value = value[key];
  }
  return value;
}

function makeContext(requestId, deadlineMs) {
  return {
    awsRequestId: requestId,
    functionName,
    functionVersion,
    // Lambda gives the memory size as the string it reads from the environment.
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? "128",
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName,
    identity: undefined,
    clientContext: undefined,
    // Accepted for compatibility; the response is sent as soon as the handler settles.
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
  };
}

function callHandler(handler, event, context) {
  return new Promise((resolvePromise, rejectPromise) => {
    let settled = false;
    const settle = (error, value) => {
      if (settled) {
        return;
      }
      settled = true;
      if (error !== null && error !== undefined) {
        rejectPromise(error);
      } else {
        resolvePromise(value);
      }
    };
    const callback = (error, value) => settle(error, value);
    // A handler declaring three parameters is callback style; the others return their result.
    const returned = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
    if (returned !== null && typeof returned?.then === "function") {
      returned.then((value) => settle(null, value), (error) => settle(error ?? new Error("rejected"), undefined));
    } else if (handler.length < 3) {
      settle(null, returned);
    }
  });
}

function errorBody(error) {
  if (error instanceof Error || (typeof error === "object" && error !== null && "message" in error)) {
    const stack = typeof error.stack === "string" ? error.stack.split("\n") : [];
    return {
      errorType: String(error.name ?? "Error"),
      errorMessage: String(error.message),
      // The frames of this script calling the handler are not the user's business.
      stackTrace: stack
        .filter((line) => /^\s+at /.test(line) && !line.includes(SELF))
        .map((line) => line.trim()),
    };
  }
  return { errorType: typeof error, errorMessage: String(error), stackTrace: [] };
}

async function markFlushed(requestId) {
  // Wait for each write to reach its pipe, so the mark is there before the reply is.
  const mark = `${FLUSH_MARK}${requestId}\n`;
  await Promise.all(
    [process.stdout, process.stderr].map((stream) => new Promise((done) => {
      try {
        stream.write(mark, () => done());
      } catch {
        done(); // the function closed the stream; the host stops waiting after a moment
      }
    })),
  );
}

async function invoke(handler, message) {
  const { requestId, deadlineMs, event } = message;
  let reply;
  try {
    const result = await callHandler(handler, event, makeContext(requestId, deadlineMs));
    try {
      // Functions and symbols stringify to undefined: like Lambda, they become null.
      const payload = JSON.stringify(result) ?? "null";
      // Splice the payload in rather than encoding the result twice.
      reply = `${JSON.stringify({ type: "result", requestId }).slice(0, -1)},"payload":${payload}}`;
    } catch (error) {
      const errorMessage = `Unable to stringify response body: ${error.message}`;
      const body = { errorType: "Runtime.MarshalError", errorMessage, stackTrace: [] };
      reply = JSON.stringify({ type: "error", requestId, error: body });
    }
  } catch (error) {
    console.error(error);
    reply = JSON.stringify({ type: "error", requestId, error: errorBody(error) });
  }
  await markFlushed(requestId);
  sendLine(reply);
}

async function serve() {
  const lines = createInterface({ input: new Socket({ fd: inFd, readable: true, writable: false }) });
  let handler;
  for await (const line of lines) {
    const message = JSON.parse(line);
    if (message.type === "init") {
      try {
        handler = await loadHandler(env._HANDLER ?? "");
      } catch (error) {
        if (!(error instanceof InitFailure)) {
          console.error(error);
        }
        const errorType = error instanceof InitFailure ? error.errorType : String(error?.name ?? typeof error);
        send({ type: "init_error", error: { errorType, errorMessage: String(error?.message ?? error) } });
        return;
      }
      send({ type: "ready" });
    } else if (message.type === "invoke" && handler) {
      await invoke(handler, message);
    } else {
      console.error(`node_worker: unexpected message ${JSON.stringify(message.type)}`);
      return;
    }
  }
}

await serve();
// Exit now, even if the function left timers or sockets open.
process.exit(0);
