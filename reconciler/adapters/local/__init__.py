"""The local cloud: one host process on this machine serving every `provider: local` deployment."""
