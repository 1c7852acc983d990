"""gRPC servicer, event consumer and the process entry point."""
