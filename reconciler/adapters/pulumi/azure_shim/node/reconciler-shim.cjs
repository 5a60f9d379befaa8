// Azure Functions (Node.js v4 model) registration of a reconciler deployment: thin on purpose.
// Generated into the Function App's root by reconciler.adapters.pulumi.azure_shim. It registers one
// HTTP trigger per REST route, or for a WebSocket API the anonymous route Web PubSub's hub calls
// (checked with the ?token= in the hub's URL, not the host's system key), from
// reconciler-shim.json, and leaves everything else to the pure reconciler-shim-*.cjs modules.
"use strict";

const { app } = require("@azure/functions");
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

const webPubSub = config.webPubSubRoute;
if (webPubSub) {
  app.http(webPubSub.name, {
    methods: webPubSub.methods,
    route: webPubSub.route,
    authLevel: "anonymous",
    handler: async (request, context) => {
      const answer = await websocket.handleCloudEvent(
        {
          method: request.method,
          query: Object.fromEntries(request.query),
          headers: Object.fromEntries(request.headers),
          body: Buffer.from(await request.arrayBuffer()),
        },
        { token: process.env[websocket.TOKEN_SETTING], config, handler: userHandler, requestId: context.invocationId },
      );
      return { status: answer.status, headers: answer.headers, body: answer.body };
    },
  });
}
