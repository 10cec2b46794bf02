"""AInfluencer sidecar: storage, errors, presets, jobs and routes; importable without ComfyUI."""
