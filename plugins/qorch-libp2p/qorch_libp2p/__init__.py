"""qorch's libp2p transport (DESIGN §8): Noise + yamux, one RPC stream per peer pair."""
