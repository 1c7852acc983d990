"""Events: envelope, transactional outbox and its relay, consumers with an inbox."""
