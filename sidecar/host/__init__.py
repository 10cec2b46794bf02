"""The host ComfyUI: the one bridge to its internals, the embedded runtime, health, the wired app."""
