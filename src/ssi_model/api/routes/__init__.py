"""The API's routes, one module per concern; ``app.create_app`` mounts them."""
