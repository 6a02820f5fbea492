"""qorch's plain-TCP transport (DESIGN §9): the wire of libp2p without libp2p."""
