// Azure Functions triggers in, AWS Lambda's handler contract out: the pure half of the Node shim.
// Shipped at a Function App's root beside the user's code and reconciler-shim.cjs, which calls it.
// No dependencies, so it runs (and is tested) without the Functions host. It mirrors the local
// cloud's gateway/rest.py and gateway/wsevents.py: same events, same reading of results.
"use strict";

const { randomUUID } = require("node:crypto");
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const { pathToFileURL } = require("node:url");

const JSON_TYPE = "application/json";
const DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8";
const DEFAULT_ROUTE = "$default";
const BODY_PREFIX = "$request.body.";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VARIABLE = /\{([A-Za-z_][A-Za-z0-9_]*)\+?\}/g;
const EXTENSIONS = [".js", ".mjs", ".cjs"];
const NO_STATUS = 1005; // the close code for "no status received": Web PubSub reports none

class InvalidResponse extends Error {}

// --- the user's handler and its context ----------------------------------------------------------

async function loadHandler(root, spec) {
  // As Lambda: everything before the first dot is the module path, the rest names the function.
  const match = /^([^.]+)\.(.+)$/.exec(spec);
  if (!match) throw new Error(`Bad handler '${spec}': use module.function`);
  const [, modulePath, functionPath] = match;
  const file = EXTENSIONS.map((ext) => join(root, modulePath + ext)).find((path) => existsSync(path));
  if (!file) throw new Error(`Cannot find module '${modulePath}'`);
  // import() loads CommonJS and ESM alike; CommonJS exports hidden from its scanner sit on `default`.
  const module = await import(pathToFileURL(file).href);
  const handler = resolve(module, functionPath) ?? resolve(module.default, functionPath);
  if (typeof handler !== "function") throw new Error(`${spec} is undefined or not a function`);
  return handler;
}

function resolve(target, path) {
  let value = target;
  for (const key of path.split(".")) {
    if (value === null || value === undefined) return undefined;
    value = value[key];
  }
  return value;
}

function makeContext(config, requestId) {
  const deadline = Date.now() + (config.timeoutSeconds ?? 10) * 1000;
  return {
    awsRequestId: requestId,
    functionName: config.functionName ?? "",
    functionVersion: "$LATEST",
    memoryLimitInMB: String(config.memoryMb ?? 128),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

function callHandler(handler, event, context) {
  // A handler declaring three parameters is callback style; the others return their result.
  return new Promise((resolvePromise, rejectPromise) => {
    const callback = (error, value) => (error ? rejectPromise(error) : resolvePromise(value));
    try {
      const returned = handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
      if (returned && typeof returned.then === "function") returned.then(resolvePromise, rejectPromise);
      else if (handler.length < 3) resolvePromise(returned);
    } catch (error) {
      rejectPromise(error);
    }
  });
}

// --- REST: HTTP trigger -> payload format 2.0 ----------------------------------------------------

function requestTime(now) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(now.getUTCDate())}/${MONTHS[now.getUTCMonth()]}/${now.getUTCFullYear()}:` +
    `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())} +0000`;
}

function joinedQuery(rawQuery) {
  const parameters = {};
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    parameters[name] = name in parameters ? `${parameters[name]},${value}` : value;
  }
  return parameters;
}

function headerPairs(headers) {
  // The v4 model's Headers iterate as [name, value]; a plain object is accepted too.
  if (headers === null || headers === undefined) return [];
  return typeof headers[Symbol.iterator] === "function" ? [...headers] : Object.entries(headers);
}

function sourceIp(headers) {
  const first = (headers["x-forwarded-for"] ?? headers["client-ip"] ?? "").split(",")[0].trim();
  return (first.match(/:/g) ?? []).length === 1 ? first.split(":")[0] : first;
}

function httpEvent(request, { routeKey, config, requestId, now }) {
  const url = new URL(request.url);
  const rawQuery = url.search.replace(/^\?/, "");
  const cookies = [];
  const headers = {};
  for (const [name, value] of headerPairs(request.headers)) {
    const lower = name.toLowerCase();
    if (lower === "cookie") {
      cookies.push(...value.split(";").map((piece) => piece.trim()).filter(Boolean));
    } else {
      headers[lower] = lower in headers ? `${headers[lower]},${value}` : value;
    }
  }
  const domain = headers.host ?? url.host;
  const event = { version: "2.0", routeKey, rawPath: url.pathname, rawQueryString: rawQuery };
  if (cookies.length) event.cookies = cookies;
  event.headers = headers;
  const query = joinedQuery(rawQuery);
  if (Object.keys(query).length) event.queryStringParameters = query;
  event.requestContext = {
    apiId: config.apiId ?? "",
    domainName: domain,
    domainPrefix: domain.split(":")[0].split(".")[0],
    http: {
      method: request.method.toUpperCase(),
      path: url.pathname,
      protocol: "HTTP/1.1",
      sourceIp: sourceIp(headers),
      userAgent: headers["user-agent"] ?? "",
    },
    requestId,
    routeKey,
    stage: config.stage ?? "",
    time: requestTime(now),
    timeEpoch: now.getTime(),
  };
  // Only the manifest's own variables: `$default`'s catch-all `{*path}` is Azure's, not the user's.
  const parameters = {};
  for (const [, name] of routeKey.matchAll(VARIABLE)) {
    const value = request.params?.[name];
    if (value) parameters[name] = decodeURIComponent(value);
  }
  if (Object.keys(parameters).length) event.pathParameters = parameters;
  event.isBase64Encoded = false;
  const body = Buffer.from(request.body ?? "");
  if (body.length) {
    try {
      event.body = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch {
      event.body = body.toString("base64");
      event.isBase64Encoded = true;
    }
  }
  return event;
}

function header(name, value) {
  let text;
  if (typeof value === "boolean") text = value ? "true" : "false";
  else if (typeof value === "string") text = value;
  else if (typeof value === "number" && Number.isFinite(value)) text = JSON.stringify(value);
  else throw new InvalidResponse(`header ${name} must have a string or number value`);
  if (!TOKEN.test(name) || /[\r\n]/.test(text)) throw new InvalidResponse(`header ${name} is not valid`);
  return [name, text];
}

function toResponse(payload) {
  // Read a handler's result as an HTTP API does with payload format 2.0.
  if (payload !== null && typeof payload === "object" && !Array.isArray(payload) && "statusCode" in payload) {
    return structured(payload);
  }
  if (typeof payload === "string") return { status: 200, headers: [["content-type", JSON_TYPE]], body: Buffer.from(payload) };
  const text = pyJson(payload);
  return { status: 200, headers: [["content-type", JSON_TYPE]], body: Buffer.from(text) };
}

function structured(payload) {
  const status = payload.statusCode;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new InvalidResponse(`statusCode must be an integer from 100 to 599, not ${status}`);
  }
  const rawHeaders = payload.headers ?? {};
  if (typeof rawHeaders !== "object" || Array.isArray(rawHeaders)) throw new InvalidResponse("bad headers");
  const headers = Object.entries(rawHeaders).map(([name, value]) => header(name, value));
  const cookies = payload.cookies ?? [];
  if (!Array.isArray(cookies) || !cookies.every((c) => typeof c === "string")) throw new InvalidResponse("bad cookies");
  headers.push(...cookies.map((cookie) => header("set-cookie", cookie)));
  if (!headers.some(([name]) => name.toLowerCase() === "content-type")) headers.push(["content-type", DEFAULT_CONTENT_TYPE]);
  const body = payload.body;
  if (body === null || body === undefined) return { status, headers, body: Buffer.alloc(0) };
  if (typeof body !== "string") throw new InvalidResponse("body must be a string");
  if (payload.isBase64Encoded !== true) return { status, headers, body: Buffer.from(body) };
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length % 4 !== 0) throw new InvalidResponse("body is not base64");
  return { status, headers, body: Buffer.from(body, "base64") };
}

function pyJson(value) {
  // JSON as Python's json.dumps writes it (", " and ": ", non-ASCII escaped): what the local
  // cloud sends for the same result, so a handler answers byte for byte the same everywhere.
  if (value === null || value === undefined || typeof value === "function") return "null";
  if (typeof value === "object" && typeof value.toJSON === "function") return pyJson(value.toJSON());
  if (Array.isArray(value)) return `[${value.map(pyJson).join(", ")}]`;
  if (typeof value === "object") {
    const items = Object.entries(value).filter(([, v]) => v !== undefined && typeof v !== "function");
    return `{${items.map(([k, v]) => `${pyJson(k)}: ${pyJson(v)}`).join(", ")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new InvalidResponse("not JSON: NaN or Infinity");
  const text = JSON.stringify(value);
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function errorResponse(status, message) {
  return { status, headers: [["content-type", JSON_TYPE]], body: Buffer.from(JSON.stringify({ message })) };
}

async function handleHttp(request, { routeKey, config, handler, now = new Date(), requestId = randomUUID() }) {
  try {
    const event = httpEvent(request, { routeKey, config, requestId, now });
    return toResponse(await callHandler(await handler(), event, makeContext(config, requestId)));
  } catch {
    return errorResponse(502, "Internal Server Error"); // whatever the user's code throws
  }
}

module.exports = {
  DEFAULT_ROUTE, BODY_PREFIX, NO_STATUS, InvalidResponse,
  loadHandler, makeContext, callHandler, requestTime, httpEvent, toResponse, pyJson, errorResponse, handleHttp,
};
