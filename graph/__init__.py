"""The shared state graph: agents, the governed tool node, checkpointing and the runtime."""
