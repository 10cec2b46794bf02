"""Remote engine adapters (fal.ai first) and the shared remote-call policy they all use."""
