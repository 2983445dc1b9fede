"""``ballwatch label``: label the ball in your own footage in the browser, model-assisted."""
