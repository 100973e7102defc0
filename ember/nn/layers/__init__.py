"""The layers of ember.nn, one module per family."""
