"""gRPC plumbing: server bootstrap, interceptors, error mapping, clients."""
