"""Content credentials: C2PA manifests that label every output as AI-made, verifiable anywhere."""
