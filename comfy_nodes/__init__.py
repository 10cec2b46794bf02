"""AInfluencer ComfyUI nodes; `extension` registers them, `polish` holds the pure torch logic."""
