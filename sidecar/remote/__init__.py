"""Remote engines: key vault, provider registry, capabilities table, remote steps and adapters."""
