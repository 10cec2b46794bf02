"""UI-format graphs: widget values, JS value rules, conversion to ComfyUI's API format, input binding."""
