"""Tables, SQL, the HTTP sender and the translation to and from protobuf messages."""
