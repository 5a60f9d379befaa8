// Web PubSub events in, API Gateway WebSocket events out: the pure WebSocket shim.
// Shipped beside reconciler-shim-adapter.cjs; reconciler-shim.cjs hands it each request of Web
// PubSub's CloudEvents HTTP protocol (handleCloudEvent), which becomes the trigger-shaped payload
// handleWebPubSub reads. Mirrors the local cloud's gateway/wsevents.py.
"use strict";

const { randomUUID, timingSafeEqual, createHash } = require("node:crypto");
const { DEFAULT_ROUTE, BODY_PREFIX, NO_STATUS, makeContext, callHandler, requestTime, pyJson } =
  require("./reconciler-shim-adapter.cjs");

function selectRoute(expression, body, routeKeys) {
  // The custom key `$request.body.<field>` selects, else `$default`, else null (no route at all).
  if (!expression.startsWith(BODY_PREFIX)) throw new Error(`unsupported route selection expression ${expression}`);
  const fallback = routeKeys.includes(DEFAULT_ROUTE) ? DEFAULT_ROUTE : null;
  if (typeof body !== "string") return fallback;
  let value;
  try {
    value = JSON.parse(body);
  } catch {
    return fallback;
  }
  for (const field of expression.slice(BODY_PREFIX.length).split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value) || !(field in value)) return fallback;
    value = value[field];
  }
  // Values are stringified as API Gateway (and Python's json.dumps) would: 5 selects "5".
  const key = typeof value === "string" ? value : ["number", "boolean"].includes(typeof value) ? pyNumber(value) : null;
  return key !== null && !key.startsWith("$") && routeKeys.includes(key) ? key : fallback;
}

function pyNumber(value) {
  return typeof value === "boolean" ? String(value) : pyJson(value);
}

function last(values) {
  if (Array.isArray(values)) return values.length ? String(values[values.length - 1]) : null;
  return values === null || values === undefined ? null : String(values);
}

function context(request, { routeKey, eventType, config, requestId, now, identity, extra = {} }) {
  const connection = request.connectionContext ?? {};
  return {
    routeKey,
    ...extra,
    eventType,
    extendedRequestId: requestId,
    requestTime: requestTime(now),
    messageDirection: "IN",
    stage: config.stage ?? "",
    connectedAt: now.getTime(),
    requestTimeEpoch: now.getTime(),
    identity,
    requestId,
    domainName: config.domainName ?? "",
    connectionId: String(connection.connectionId ?? ""),
    apiId: config.apiId ?? "",
  };
}

function connectEvent(request, { config, requestId, now }) {
  const single = {};
  const multi = {};
  for (const [name, values] of Object.entries(request.headers ?? {})) {
    const value = last(values);
    if (value !== null) single[name] = value;
    if (Array.isArray(values)) multi[name] = values.map(String);
  }
  const event = { headers: single, multiValueHeaders: multi };
  const query = Object.entries(request.query ?? {});
  if (query.length) {
    event.queryStringParameters = Object.fromEntries(query.map(([k, v]) => [k, last(v)]).filter(([, v]) => v !== null));
    event.multiValueQueryStringParameters = Object.fromEntries(
      query.filter(([, v]) => Array.isArray(v)).map(([k, v]) => [k, v.map(String)]));
  }
  const lower = Object.fromEntries(Object.entries(single).map(([k, v]) => [k.toLowerCase(), v]));
  const identity = { sourceIp: (lower["x-forwarded-for"] ?? "").split(",")[0].trim() };
  if ("user-agent" in lower) identity.userAgent = lower["user-agent"];
  event.requestContext = context(request, { routeKey: "$connect", eventType: "CONNECT", config, requestId, now, identity });
  event.isBase64Encoded = false;
  return event;
}

function messageBody(request) {
  // Text for `text`/`json`; bytes for `binary` (the trigger's JSON carries them as base64).
  const data = request.data;
  if (String(request.dataType ?? "text").toLowerCase() === "binary") {
    return typeof data === "string" ? Buffer.from(data, "base64") : Buffer.from(data ?? []);
  }
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array || data instanceof ArrayBuffer) return Buffer.from(data).toString("utf-8");
  return pyJson(data);
}

function messageEvent(request, { routeKey, config, requestId, now }) {
  const body = messageBody(request);
  const encoded = typeof body !== "string";
  const requestContext = context(request, {
    routeKey, eventType: "MESSAGE", config, requestId, now, identity: { sourceIp: "" }, extra: { messageId: requestId },
  });
  return { requestContext, body: encoded ? body.toString("base64") : body, isBase64Encoded: encoded };
}

function disconnectEvent(request, { config, requestId, now }) {
  const headers = { Host: config.domainName ?? "", "x-api-key": "", "X-Forwarded-For": "", "x-restapi": "" };
  const extra = { disconnectStatusCode: NO_STATUS, disconnectReason: String(request.reason ?? "") };
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    requestContext: context(request, {
      routeKey: "$disconnect", eventType: "DISCONNECT", config, requestId, now, identity: { sourceIp: "" }, extra,
    }),
    isBase64Encoded: false,
  };
}

function routeReply(payload) {
  if (payload !== null && typeof payload === "object" && !Array.isArray(payload) && "statusCode" in payload) {
    payload = payload.body;
  }
  if (payload === null || payload === undefined) return null;
  return typeof payload === "string" ? payload : pyJson(payload);
}

function connectRejection(payload) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload) || !("statusCode" in payload)) return null;
  const status = payload.statusCode;
  if (!Number.isInteger(status) || status < 100 || status > 599) return 502;
  return status >= 200 && status < 300 ? null : status;
}

function errorCode(status) {
  if (status === 401 || status === 403) return "unauthorized";
  return status >= 400 && status < 500 ? "userError" : "serverError";
}

function errorFrame(message, connectionId, requestId) {
  return `{"message": ${JSON.stringify(message)}, "connectionId":${JSON.stringify(connectionId)}, "requestId":${JSON.stringify(requestId)}}`;
}

async function handleWebPubSub(request, { config, handler, now = new Date(), requestId = randomUUID() }) {
  // Run the user's handler for one Web PubSub event; resolve to the answer for the service.
  const connection = request.connectionContext ?? {};
  const eventName = String(connection.eventName ?? "").toLowerCase();
  const eventType = String(connection.eventType ?? "").toLowerCase();
  const routes = (config.routes ?? []).map(String);
  const lambdaContext = makeContext(config, requestId);
  const options = { config, requestId, now };
  if (eventType === "system" && eventName === "connect") {
    if (!routes.includes("$connect")) return {};
    let status;
    try {
      status = connectRejection(await callHandler(await handler(), connectEvent(request, options), lambdaContext));
    } catch {
      status = 502; // a failing $connect refuses, as API Gateway's 502 does
    }
    return status === null ? {} : { code: errorCode(status), errorMessage: "Forbidden" };
  }
  if (eventType === "system" && eventName === "disconnected") {
    if (routes.includes("$disconnect")) {
      try {
        await callHandler(await handler(), disconnectEvent(request, options), lambdaContext);
      } catch {
        // API Gateway ignores what $disconnect returns or throws.
      }
    }
    return null;
  }
  if (eventType !== "user") return null; // `connected` has no API Gateway counterpart
  const connectionId = String(connection.connectionId ?? "");
  const route = selectRoute(config.routeSelectionExpression || "$request.body.action", messageBody(request), routes);
  let reply;
  if (route === null) {
    reply = errorFrame("Forbidden", connectionId, requestId);
  } else {
    try {
      const event = messageEvent(request, { ...options, routeKey: route });
      reply = routeReply(await callHandler(await handler(), event, lambdaContext));
    } catch {
      reply = errorFrame("Internal server error", connectionId, requestId);
    }
  }
  return reply === null ? null : { data: reply, dataType: "text" };
}

// --- Web PubSub's CloudEvents HTTP protocol ---------------------------------------------------
// https://learn.microsoft.com/azure/azure-web-pubsub/reference-cloud-events

const TOKEN_SETTING = "RECONCILER_WEBPUBSUB_TOKEN"; // the app setting the hub's ?token= must match
const CE_PREFIX = "azure.webpubsub.";
const JSON_TYPE = "application/json";
const TEXT_TYPE = "text/plain; charset=utf-8";
const DATA_TYPES = { binary: "application/octet-stream", json: JSON_TYPE, text: TEXT_TYPE };
const REFUSALS = { unauthorized: 401, userError: 400, serverError: 500 };

function tokenMatches(given, expected) {
  // Constant time: both sides are hashed to the same length first.
  if (typeof given !== "string" || !given || typeof expected !== "string" || !expected) return false;
  const digest = (value) => createHash("sha256").update(value, "utf-8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function answer(status, body = null, contentType = JSON_TYPE) {
  if (body === null) return { status, headers: [], body: Buffer.alloc(0) };
  const data = Buffer.isBuffer(body) ? body : Buffer.from(pyJson(body), "utf-8");
  return { status, headers: [["content-type", contentType]], body: data };
}

function triggerRequest(headers, body) {
  // The trigger-shaped payload for one CloudEvents POST, or null when ce-type is not ours.
  const ceType = headers["ce-type"] ?? "";
  const [kind, ...rest] = ceType.slice(CE_PREFIX.length).split(".");
  const name = rest.join(".");
  if (!ceType.startsWith(CE_PREFIX) || !["sys", "user"].includes(kind) || !name) return null;
  const request = {
    connectionContext: {
      connectionId: headers["ce-connectionid"] ?? "",
      userId: headers["ce-userid"] ?? "",
      hub: headers["ce-hub"] ?? "",
      eventName: headers["ce-eventname"] || name,
      eventType: kind === "sys" ? "system" : "user",
      origin: headers["webhook-request-origin"] ?? "",
    },
  };
  if (kind === "user") {
    const media = (headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    if (media === "application/octet-stream") return { ...request, data: body, dataType: "binary" };
    return { ...request, data: body.toString("utf-8"), dataType: media === JSON_TYPE ? "json" : "text" };
  }
  let fields = {};
  try {
    fields = body.length ? JSON.parse(body.toString("utf-8")) : {};
  } catch {
    fields = {};
  }
  if (fields !== null && typeof fields === "object" && !Array.isArray(fields)) {
    for (const [key, value] of Object.entries(fields)) if (key !== "connectionContext") request[key] = value;
  }
  return request;
}

async function handleCloudEvent(request, { token, config, handler, now = new Date(), requestId = randomUUID() }) {
  // Answer one request of Web PubSub's CloudEvents HTTP protocol, as the extension would. A missing
  // or wrong ?token= is a 401 before anything else: the handler never runs.
  const headers = Object.fromEntries(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  if (!tokenMatches((request.query ?? {}).token, token)) return answer(401, { message: "Unauthorized" });
  const method = String(request.method ?? "").toUpperCase();
  if (method === "OPTIONS") {
    return { status: 200, headers: [["WebHook-Allowed-Origin", headers["webhook-request-origin"] || "*"]], body: Buffer.alloc(0) };
  }
  if (method !== "POST") return answer(405, { message: "Method Not Allowed" });
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body ?? "", "utf-8");
  const payload = triggerRequest(headers, body);
  if (payload === null) return answer(400, { message: "Unknown event type" });
  const result = await handleWebPubSub(payload, { config, handler, now, requestId });
  const connection = payload.connectionContext;
  if (connection.eventType === "user") {
    if (result === null) return answer(204);
    const data = Buffer.isBuffer(result.data) ? result.data : Buffer.from(String(result.data), "utf-8");
    return answer(200, data, DATA_TYPES[result.dataType] ?? TEXT_TYPE);
  }
  if (connection.eventName !== "connect") return answer(204); // the service only logs a failure
  if (Object.keys(result).length === 0) return answer(200, {});
  return answer(REFUSALS[result.code] ?? 500, result);
}

module.exports = {
  selectRoute, connectEvent, messageEvent, disconnectEvent, routeReply, connectRejection, handleWebPubSub,
  TOKEN_SETTING, tokenMatches, triggerRequest, handleCloudEvent,
};
