"""Order rules and value objects. Plain Python: nothing here imports grpc, sql or nats."""
