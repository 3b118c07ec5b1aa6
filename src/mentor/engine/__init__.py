"""The model engine: apps built from a prompt, a router, flows, tools and a guard (DESIGN.md layer 3)."""
