// Test driver: runs the Node shim's pure adapter for one JSON command on stdin, prints JSON.
"use strict";
const path = require("node:path");
const shim = path.resolve(__dirname, "../../../reconciler/adapters/pulumi/azure_shim/node");
const adapter = require(path.join(shim, "reconciler-shim-adapter.cjs"));
const websocket = require(path.join(shim, "reconciler-shim-websocket.cjs"));

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const command = JSON.parse(Buffer.concat(chunks).toString("utf-8"));
  const now = new Date(command.now);
  const handler = () => adapter.loadHandler(command.root, command.handler);
  const request = command.request;
  let result;
  if (command.op === "event") {
    result = adapter.httpEvent(request, { routeKey: command.routeKey, config: command.config, requestId: command.requestId, now });
  } else if (command.op === "http") {
    const answer = await adapter.handleHttp(request, { routeKey: command.routeKey, config: command.config, handler, now, requestId: command.requestId });
    result = { status: answer.status, headers: answer.headers, body: answer.body.toString("base64") };
  } else if (command.op === "ws-event") {
    const options = { config: command.config, requestId: command.requestId, now, routeKey: command.routeKey };
    result = websocket[command.builder](request, options);
  } else if (command.op === "cloud-event") {
    const answer = await websocket.handleCloudEvent(
      { ...request, body: Buffer.from(request.body, command.bodyEncoding ?? "utf-8") },
      { token: command.token, config: command.config, handler, now, requestId: command.requestId },
    );
    result = { status: answer.status, headers: answer.headers, body: answer.body.toString("base64") };
  } else {
    result = await websocket.handleWebPubSub(request, { config: command.config, handler, now, requestId: command.requestId });
  }
  process.stdout.write(JSON.stringify(result ?? null));
}

main().catch((error) => {
  process.stderr.write(String(error?.stack ?? error));
  process.exit(1);
});
