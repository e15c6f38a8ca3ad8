"""One module per study notebook: the logic its cells call."""
