// Example REST handler (CommonJS, async): payload format 2.0 in, a response out.
exports.handler = async (event, context) => {
  if (event.routeKey === "GET /files/{proxy+}") {
    return { path: event.pathParameters.proxy, requestId: context.awsRequestId };
  }
  return {
    statusCode: 200,
    headers: { "content-type": "text/plain" },
    body: `${process.env.GREETING || "Hello"} from ${context.functionName}`,
  };
};
