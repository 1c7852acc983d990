"""Pure rules: URLs and the networks they may reach, event type patterns, secrets, signatures, retry delays."""
