"""Service-node logic that does not depend on a transport: reservations, adverts, node types."""
