"""A run from request to ComfyUI prompt: pipeline, generate contract, execution tracker."""
