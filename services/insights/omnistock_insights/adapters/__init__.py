"""SQL, the stream, metrics and protobuf translation."""
