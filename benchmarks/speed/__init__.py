"""Speed, memory and scale probes."""
