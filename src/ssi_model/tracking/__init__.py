"""MLflow: tracked training runs, the pyfunc model, the registry and its champion."""
