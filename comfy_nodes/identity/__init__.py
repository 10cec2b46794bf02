"""Face embeddings for the identity check (dlib, no ComfyUI): importable and testable on their own."""
