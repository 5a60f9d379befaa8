// Example WebSocket handler (ES module): API Gateway WebSocket events in, route responses out.
export const handler = async (event) => {
  const { routeKey, connectionId } = event.requestContext;
  if (routeKey === "$connect" || routeKey === "$disconnect") {
    return { statusCode: 200 };
  }
  if (routeKey === "subscribe") {
    const { topic } = JSON.parse(event.body || "{}");
    return { statusCode: 200, body: JSON.stringify({ subscribed: topic, connectionId }) };
  }
  return { statusCode: 200, body: JSON.stringify({ echo: event.body }) };
};
