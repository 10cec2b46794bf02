"""Pure torch polish passes (no ComfyUI imports): colour grade, film grain."""
