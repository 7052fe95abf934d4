"""An agency's gateway on its own machine, appending through a log node over mutual TLS."""
