// Azure Functions (Node.js v4 model) registration of a reconciler deployment: thin on purpose.
// Generated into the Function App's root by reconciler.adapters.pulumi.azure_shim. It registers one
// HTTP trigger per REST route, or the Web PubSub triggers of a WebSocket API, from
// reconciler-shim.json, and leaves everything else to the pure reconciler-shim-*.cjs modules.
"use strict";

const { app, trigger } = require("@azure/functions");
const adapter = require("./reconciler-shim-adapter.cjs");
const websocket = require("./reconciler-shim-websocket.cjs");
const config = require("./reconciler-shim.json");

let loading;
// The user's handler, loaded on first use as Lambda does on a cold start.
const userHandler = () => (loading ??= adapter.loadHandler(__dirname, config.handler));

for (const route of config.httpTriggers ?? []) {
  app.http(route.name, {
    methods: route.methods,
    route: route.route,
    authLevel: "anonymous",
    handler: async (request, context) => {
      const body = Buffer.from(await request.arrayBuffer());
      const answer = await adapter.handleHttp(
        { method: request.method, url: request.url, headers: request.headers, params: request.params, body },
        { routeKey: route.routeKey, config, handler: userHandler, requestId: context.invocationId },
      );
      // Header pairs, so each cookie keeps its own Set-Cookie header.
      return { status: answer.status, headers: answer.headers, body: answer.body };
    },
  });
}

for (const event of config.webPubSubTriggers ?? []) {
  app.generic(event.name, {
    trigger: trigger.generic({
      type: "webPubSubTrigger",
      name: "request",
      hub: config.hub,
      eventName: event.eventName,
      eventType: event.eventType,
    }),
    handler: async (request, context) =>
      (await websocket.handleWebPubSub(request, { config, handler: userHandler, requestId: context.invocationId })) ?? undefined,
  });
}
