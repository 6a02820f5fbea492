"""qorch's centralized baseline transport (DESIGN §9)."""
