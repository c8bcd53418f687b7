"""UI views, one module each."""
