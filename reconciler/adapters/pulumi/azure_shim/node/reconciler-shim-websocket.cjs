// Web PubSub trigger events in, API Gateway WebSocket events out: the pure WebSocket shim.
// Shipped beside reconciler-shim-adapter.cjs; reconciler-shim.cjs hands it each Web PubSub trigger
// payload (connect, user message, disconnected) and returns its answer to the service.
// Mirrors the local cloud's gateway/wsevents.py.
"use strict";

const { randomUUID } = require("node:crypto");
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

module.exports = { selectRoute, connectEvent, messageEvent, disconnectEvent, routeReply, connectRejection, handleWebPubSub };
