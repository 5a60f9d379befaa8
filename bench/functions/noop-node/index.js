exports.handler = async (event) => ({ ok: true, path: event.rawPath });
