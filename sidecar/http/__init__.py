"""The HTTP API on ComfyUI's server: helpers, OpenAPI document and one module per resource."""
