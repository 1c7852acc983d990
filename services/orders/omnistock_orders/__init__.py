"""Orders service: quote routing, create and track orders, re-route on a short pick."""
