"""The local cloud's gateway: API Gateway's routing, events and responses, and the data plane."""
