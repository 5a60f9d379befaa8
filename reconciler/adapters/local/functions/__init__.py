"""The local cloud's functions: worker processes with the Lambda contract, and their pools."""
